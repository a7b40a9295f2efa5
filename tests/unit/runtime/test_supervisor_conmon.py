"""Supervisor with conmon containers: the monitor recorded per container, state from conmon's files."""
from __future__ import annotations

import json
import os
import threading
import time

import pytest

from rootless.config.paths import Paths
from rootless.errors import FailedPrecondition
from rootless.runtime import conmon, supervisor
from rootless.runtime.crun import Crun
from rootless.runtime.logs import LogSettings
from rootless.runtime.monitor_protocol import PIDFILE
from rootless.runtime.supervisor import KIND_FILE, Supervisor

real_pidfd_open = os.pidfd_open


def make(tmp_path, monkeypatch, kind: str = "conmon"):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(conmon, "find_binary", lambda: "/usr/bin/conmon")
    paths = Paths(str(tmp_path / "root"), str(tmp_path / "run"))
    sup = Supervisor(paths, Crun("/usr/bin/crun", paths.crun_state), python="/usr/bin/python3", monitor=kind)
    os.makedirs(paths.monitor_dir("c1"), exist_ok=True)
    return sup


def mark_conmon(sup: Supervisor, cid: str = "c1") -> None:
    with open(os.path.join(sup.paths.monitor_dir(cid), KIND_FILE), "w") as f:
        f.write("conmon\n")


def test_the_setting_picks_the_monitor(tmp_path, monkeypatch):
    assert make(tmp_path / "a", monkeypatch, "conmon").monitor == "conmon"
    assert make(tmp_path / "b", monkeypatch, "python").conmon is None


def test_choose_monitor_records_conmon_and_keeps_python_for_its_jobs(tmp_path, monkeypatch):
    sup = make(tmp_path, monkeypatch)
    config = sup.new_config("c1", "/b", "/log")
    assert sup._choose_monitor(config) == "conmon"
    assert open(os.path.join(sup.paths.monitor_dir("c1"), KIND_FILE)).read() == "conmon\n"
    os.makedirs(sup.paths.monitor_dir("c2"))
    rotated = sup.new_config("c2", "/b", "/log", log_settings=LogSettings(max_size=9, max_files=2).to_json())
    assert sup._choose_monitor(rotated) == "python"
    assert not os.path.exists(os.path.join(sup.paths.monitor_dir("c2"), KIND_FILE))


def test_a_restarted_daemon_reads_the_kind_and_conmons_exit_file(tmp_path, monkeypatch):
    sup = make(tmp_path, monkeypatch)
    mark_conmon(sup)
    again = make(tmp_path, monkeypatch)  # a new daemon: nothing cached
    assert again.read_exit("c1") is None
    with open(os.path.join(sup.paths.monitor_dir("c1"), "exit"), "w") as f:
        f.write("9")
    assert again.read_exit("c1")["ExitCode"] == 9
    assert again.wait_exit("c1", 1)["ExitCode"] == 9  # conmon gone: its record


def test_conmon_found_by_its_own_pid_file_before_ours_is_written(tmp_path, monkeypatch):
    sup = make(tmp_path, monkeypatch)
    mark_conmon(sup)
    with open(sup.paths.monitor_pidfile("c1"), "w") as f:
        f.write(str(os.getpid()))  # as conmon writes it: the pid alone
    assert sup.monitor_pid("c1") == os.getpid()
    assert not sup.is_alive("c1")  # without a start time, the cmdline decides: ours is not conmon's for c1


def _alive_as_us(sup: Supervisor) -> int:
    started = supervisor.process_start_time("self")
    with open(sup.paths.monitor_pidfile("c1"), "w") as f:
        f.write(f"{os.getpid()} {started}\n")  # "alive": it is us
    return int(started)


def test_wait_exit_returns_at_the_exit_file_and_remove_waits_for_conmon_to_be_gone(tmp_path, monkeypatch):
    # conmon runs `crun delete` (its exit command) after the exit file: the engine's exit path may
    # start (unwire, unmount), but the monitor dir goes, and a new launch happens, only once it is gone.
    sup = make(tmp_path, monkeypatch)
    mark_conmon(sup)
    started = _alive_as_us(sup)
    with open(os.path.join(sup.paths.monitor_dir("c1"), "exit"), "w") as f:
        f.write("0")
    assert sup.wait_exit("c1", 0.3)["ExitCode"] == 0  # while conmon still runs its exit command
    removing = threading.Thread(target=sup.remove, args=("c1", 5.0))
    removing.start()
    removing.join(0.3)
    assert removing.is_alive() and os.path.isdir(sup.paths.monitor_dir("c1"))  # conmon still there
    with open(sup.paths.monitor_pidfile("c1"), "w") as f:
        f.write(f"{os.getpid()} {started + 1}\n")  # gone (the pid recycled)
    removing.join(5)
    assert not removing.is_alive() and not os.path.exists(sup.paths.monitor_dir("c1"))


def test_a_removal_for_good_does_not_wait_for_conmons_exit_command(tmp_path, monkeypatch):
    # docker rm / a --rm exit: the id never comes back, conmon finishes `crun delete` on its own
    sup = make(tmp_path, monkeypatch)
    mark_conmon(sup)
    _alive_as_us(sup)
    with open(os.path.join(sup.paths.monitor_dir("c1"), "exit"), "w") as f:
        f.write("0")
    began = time.monotonic()
    sup.remove("c1", 5.0, wait_monitor=False)
    assert time.monotonic() - began < 1 and not os.path.exists(sup.paths.monitor_dir("c1"))


def test_wait_exit_wakes_at_the_inits_exit_not_conmons(tmp_path, monkeypatch):
    # The init's pidfd wakes the wait (here a pipe stands in for it: unit tests start no
    # process); the exit file conmon writes next is then found within a few ms, while
    # conmon itself (us) never exits.
    sup = make(tmp_path, monkeypatch)
    mark_conmon(sup)
    _alive_as_us(sup)
    with open(os.path.join(sup.paths.monitor_dir("c1"), PIDFILE), "w") as f:
        f.write("4242")
    init_r, init_w = os.pipe()
    monkeypatch.setattr(os, "pidfd_open", lambda pid, flags=0: os.dup(init_r) if pid == 4242 else real_pidfd_open(pid))
    results = []
    waiter = threading.Thread(target=lambda: results.append(sup.wait_exit("c1", 10)))
    waiter.start()
    time.sleep(0.2)
    assert waiter.is_alive()
    os.write(init_w, b"x")  # the init exited
    time.sleep(0.01)
    with open(os.path.join(sup.paths.monitor_dir("c1"), "exit"), "w") as f:
        f.write("3")  # conmon's exit file, a moment later
    began = time.monotonic()
    waiter.join(2)
    assert results and results[0]["ExitCode"] == 3 and time.monotonic() - began < 1
    os.close(init_r)
    os.close(init_w)


def test_conmon_gone_without_an_exit_file_is_255(tmp_path, monkeypatch):
    sup = make(tmp_path, monkeypatch)
    mark_conmon(sup)
    record = sup.wait_exit("c1", 1)
    assert record["ExitCode"] == 255 and "died" in record["Error"]


def test_resize_of_a_conmon_container_without_tty(tmp_path, monkeypatch):
    sup = make(tmp_path, monkeypatch)
    config = sup.new_config("c1", str(tmp_path), "/log")
    sup._choose_monitor(config)
    from rootless.util import fs
    fs.atomic_write_json(sup.paths.monitor_config("c1"), config.to_json())
    with pytest.raises(FailedPrecondition, match="no tty"):
        sup.resize("c1", 10, 10)


def test_exec_in_a_conmon_container_needs_it_running(tmp_path, monkeypatch):
    sup = make(tmp_path, monkeypatch)
    mark_conmon(sup)
    with pytest.raises(FailedPrecondition, match="not running"):
        sup.exec("c1", "e1", {"args": ["true"], "cwd": "/"})


def test_a_daemon_set_to_python_still_serves_conmon_containers(tmp_path, monkeypatch):
    sup = make(tmp_path, monkeypatch, "python")  # the setting changed since the container started
    mark_conmon(sup)
    with open(os.path.join(sup.paths.monitor_dir("c1"), "exit"), "w") as f:
        f.write("143")
    assert sup.conmon is None and sup.read_exit("c1")["ExitCode"] == 143


def test_the_bundle_is_written_in_the_fresh_monitor_dir_and_read_back_through_the_monitor_config(
        tmp_path, monkeypatch):
    """The OCI bundle lives in the runtime dir (Supervisor.bundle_dir), not in the storage root:
    launch writes bundle_spec after emptying the monitor dir; bundle_config reads the bundle the
    monitor config names, also a container dir's bundle of an older daemon's launch."""
    sup = make(tmp_path, monkeypatch)
    with open(os.path.join(sup.paths.monitor_dir("c1"), "stale"), "w") as f:
        f.write("from the previous run")
    bundle = sup.bundle_dir("c1")
    assert os.path.dirname(bundle) == sup.paths.monitor_dir("c1")
    config = sup.new_config("c1", bundle, "/log")
    monkeypatch.setattr(sup, "_launch_conmon", lambda config, timeout, while_creating: supervisor.Launched(
        "c1", 7, 8, []))
    sup.launch(config, 5, spec_prepared=True, bundle_spec='{"process": {"args": ["true"]}}')
    assert sorted(os.listdir(sup.paths.monitor_dir("c1"))) == ["bundle", "config.json", KIND_FILE]
    assert sup.bundle_config("c1") == {"process": {"args": ["true"]}}
    assert oct(os.stat(os.path.join(bundle, "config.json")).st_mode & 0o777) == "0o600"
    old = str(tmp_path / "root" / "containers" / "c2" / "bundle")  # where an older daemon put it
    os.makedirs(old)
    with open(os.path.join(old, "config.json"), "w") as f:
        f.write('{"process": {"args": ["old"]}}')
    os.makedirs(sup.paths.monitor_dir("c2"))
    supervisor._write_new(sup.paths.monitor_config("c2"), json.dumps(sup.new_config("c2", old, "/log").to_json()))
    assert sup.bundle_config("c2") == {"process": {"args": ["old"]}}
    assert sup.bundle_config("c3") is None
