"""What a conmon launch keeps of conmon is written while `crun create` runs, not after it (issue 13)."""
from __future__ import annotations

import os
import stat
from typing import Any, List

import pytest

from rootless.errors import ToolError
from rootless.runtime import conmon, supervisor
from rootless.runtime.crun import Crun
from rootless.runtime.monitor_protocol import MONITOR_PIDFILE, MonitorConfig

CID = "c" * 64


def _launcher(tmp_path: Any, monkeypatch: Any, writes_pid_file: bool, events: List[str]) -> Any:
    """A Conmon whose process steps are replaced: conmon's first process, then crun create's report."""
    config = MonitorConfig(container_id=CID, bundle=str(tmp_path), crun_binary="/usr/bin/crun",
                           crun_root=str(tmp_path / "crun"), cgroup_manager="cgroupfs", log_path="/l",
                           monitor_dir=str(tmp_path))
    runner = conmon.Conmon("/usr/bin/conmon", Crun("/usr/bin/crun", str(tmp_path / "crun")))

    def start(config: MonitorConfig, sync_w: int, timeout: float) -> None:
        events.append("conmon forked")
        if writes_pid_file:
            with open(os.path.join(config.monitor_dir, MONITOR_PIDFILE), "w") as f:
                f.write("4242")

    def created(config: MonitorConfig, sync_r: int, timeout: float) -> int:
        events.append("crun created")
        if not writes_pid_file:
            with open(os.path.join(config.monitor_dir, MONITOR_PIDFILE), "w") as f:
                f.write("4242")
        return 77

    monkeypatch.setattr(runner, "_start", start)
    monkeypatch.setattr(runner, "_wait_created", created)
    return runner, config


@pytest.mark.parametrize("early", [True, False])
def test_on_forked_runs_while_crun_creates_or_once_the_pid_file_is_there(  # type: ignore[no-untyped-def]
        tmp_path, monkeypatch, early) -> None:
    events: List[str] = []
    runner, config = _launcher(tmp_path, monkeypatch, early, events)
    assert runner.launch(config, 5, on_forked=lambda pid: events.append(f"recorded {pid}")) == (77, 4242)
    if early:  # conmon's first process wrote it as it exited (conmon 2.1): recorded during the create
        assert events == ["conmon forked", "recorded 4242", "crun created"]
    else:
        assert events == ["conmon forked", "crun created", "recorded 4242"]


def test_no_pid_file_at_all_is_still_a_tool_error(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    runner, config = _launcher(tmp_path, monkeypatch, True, [])
    monkeypatch.setattr(runner, "_start", lambda *a: None)
    monkeypatch.setattr(runner, "_wait_created", lambda *a: 77)
    with pytest.raises(ToolError, match="created the container but wrote no pid file"):
        runner.launch(config, 5, on_forked=lambda pid: None)


def test_fresh_monitor_files_are_written_whole_and_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "config.json")
    supervisor._write_new(path, '{"a": 1}\n')
    assert open(path).read() == '{"a": 1}\n'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    supervisor._write_new(path, "x\n")  # a leftover is replaced, not appended to
    assert open(path).read() == "x\n"
    os.symlink(str(tmp_path / "elsewhere"), str(tmp_path / "link"))
    with pytest.raises(OSError):
        supervisor._write_new(str(tmp_path / "link"), "no\n")  # never through a symlink
    assert not os.path.exists(str(tmp_path / "elsewhere"))


def test_while_creating_runs_after_the_pid_files_record_and_before_crun_create_is_done(  # type: ignore[no-untyped-def]
        tmp_path, monkeypatch) -> None:
    """Supervisor.launch's while_creating (the start's network plan) in the same window."""
    events: List[str] = []
    runner, config = _launcher(tmp_path, monkeypatch, True, events)
    sup = object.__new__(supervisor.Supervisor)
    sup.conmon = runner
    sup.crun = Crun("/usr/bin/crun", str(tmp_path / "crun"))
    monkeypatch.setattr(sup, "_record_conmon", lambda cid, pid: events.append(f"recorded {pid}"), raising=False)
    launched = sup._launch_conmon(config, 5, while_creating=lambda: events.append("planned"))
    assert (launched.pid, launched.monitor_pid) == (77, 4242)
    assert events == ["conmon forked", "recorded 4242", "planned", "crun created"]
