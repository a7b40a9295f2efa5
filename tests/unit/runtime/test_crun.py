from __future__ import annotations

import json

import pytest

from rootless.errors import InvalidArgument, NotFound, ToolError
from rootless.runtime.crun import Crun, signal_name

CRUN = Crun("crun", "/run/u/crun", "disabled")
BASE = ["crun", "--cgroup-manager=disabled", "--root", "/run/u/crun"]


def test_create_argv():
    assert CRUN.create_argv("c1", "/b", "/p") == BASE + ["create", "--bundle", "/b", "--pid-file", "/p", "c1"]
    assert CRUN.create_argv("c1", "/b", "/p", "/s")[-3:] == ["--console-socket", "/s", "c1"]


def test_exec_kill_delete_argv():
    assert CRUN.exec_argv("c1", "/proc.json", "/s", detach=True) == BASE + [
        "exec", "--process", "/proc.json", "--console-socket", "/s", "--detach", "c1"]
    assert CRUN.kill_argv("c1", "SIGKILL") == BASE + ["kill", "c1", "KILL"]
    assert CRUN.kill_argv("c1", 15, all_processes=True) == BASE + ["kill", "--all", "c1", "15"]
    assert CRUN.delete_argv("c1") == BASE + ["delete", "--force", "c1"]


def test_signal_names():
    assert signal_name("sigterm") == "TERM"
    assert signal_name("9") == "9"
    with pytest.raises(InvalidArgument):
        signal_name("NOPE")


def test_kill_missing_container_is_not_found(fp):
    fp.register(BASE + ["kill", "c1", "TERM"], returncode=1,
                stderr="error opening file `/run/u/crun/c1/status`: No such file or directory")
    with pytest.raises(NotFound):
        CRUN.kill("c1")


def test_state_parses_json_and_missing_is_none(fp):
    fp.register(BASE + ["state", "c1"], stdout='{"status": "running", "pid": 42}')
    fp.register(BASE + ["state", "c2"], returncode=1, stderr="container `c2` does not exist")
    assert CRUN.state("c1") == {"status": "running", "pid": 42}
    assert CRUN.state("c2") is None


def test_start_failure_is_tool_error(fp):
    fp.register(BASE + ["start", "c1"], returncode=1, stderr="boom")
    with pytest.raises(ToolError, match="boom"):
        CRUN.start("c1")


def test_has_state_is_the_dir_under_root(tmp_path):
    crun = Crun("crun", str(tmp_path), "disabled")
    assert not crun.has_state("c1")
    (tmp_path / "c1").mkdir()
    assert crun.has_state("c1")


def test_update_passes_a_resources_file_and_removes_it(fp, tmp_path):
    seen = {}

    def capture(process):
        with open(process.args[-2]) as f:
            seen["resources"] = json.load(f)

    fp.register(["crun", "--cgroup-manager=systemd", "--root", "/state", "update", "--resources",
                 fp.any(min=1, max=1), "c1"], callback=capture)
    Crun("crun", "/state", "systemd").update("c1", {"pids": {"limit": 5}}, str(tmp_path))
    assert seen["resources"] == {"pids": {"limit": 5}}
    assert list(tmp_path.iterdir()) == []


def test_crun_is_pinned_read_only_only_inside_our_namespace_and_never_over_a_writable_dir(
        tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from rootless.runtime import crun as crun_mod
    from rootless.util import linux

    mounts = []
    monkeypatch.setattr(linux, "mount", lambda *args: mounts.append(args))
    binary = tmp_path / "crun"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(crun_mod, "in_initial_user_namespace", lambda: True)
    assert crun_mod.pin_read_only("crun") is False  # the host's mount table: never
    monkeypatch.setattr(crun_mod, "in_initial_user_namespace", lambda: False)
    assert crun_mod.pin_read_only("crun") is False  # a dir we can write: read-only would break it
    assert crun_mod.pin_read_only("no-such-runtime") is False
    assert mounts == []
    monkeypatch.setattr(crun_mod, "_writable", lambda path: False)  # as the host root's /usr/bin
    assert crun_mod.pin_read_only("crun") is True
    assert [m[3] & linux.MS_RDONLY for m in mounts] == [0, linux.MS_RDONLY]  # bind, then read-only
    assert mounts[0][:2] == (str(tmp_path), str(tmp_path))


def test_in_initial_user_namespace_here() -> None:
    from rootless.runtime import crun as crun_mod

    assert crun_mod.in_initial_user_namespace() is True  # unit tests run outside any namespace of ours
