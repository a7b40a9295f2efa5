from __future__ import annotations

import array
import os
import socket

import pytest

from rootless.runtime import monitor, monitor_protocol
from rootless.runtime.monitor_protocol import MonitorConfig


def config(**extra):
    return MonitorConfig("c1", "/b", "crun", "/run/crun", "disabled", "/log", "/run/monitors/c1", **extra)


def test_config_round_trip_ignores_unknown_fields():
    cfg = config(tty=True, ports=[{"proto": "tcp", "container_port": 80}], slirp_features={"sandbox": True})
    data = cfg.to_json()
    data["future_field"] = 1
    assert MonitorConfig.from_json(data) == cfg
    assert cfg.crun.create_argv("c1", "/b", "/p")[:4] == ["crun", "--cgroup-manager=disabled", "--root", "/run/crun"]
    assert cfg.file("ctl.sock") == "/run/monitors/c1/ctl.sock"


def test_exit_record_for_exit_code_and_signal():
    assert monitor.exit_record(3 << 8, 0) == {"ExitCode": 3, "FinishedAt": "1970-01-01T00:00:00.000000000Z",
                                              "Signal": None}
    killed = monitor.exit_record(9, 0)
    assert (killed["ExitCode"], killed["Signal"]) == (137, 9)


def test_reachable_path_goes_through_proc_for_long_paths(tmp_path, monkeypatch):
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    monkeypatch.chdir(deep)
    assert monitor.reachable_path("/short/x.sock") == "/short/x.sock"
    assert monitor.reachable_path(str(deep / "x.sock")) == f"/proc/{os.getpid()}/cwd/x.sock"


def test_receive_fd_over_scm_rights(tmp_path):
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    target = tmp_path / "f"
    target.write_bytes(b"pty stand-in")
    with left, right, open(target, "rb") as f:
        fds = array.array("i", [f.fileno()])
        left.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())])
        received = monitor_protocol.receive_fd(right)
        try:
            assert os.read(received, 100) == b"pty stand-in"
        finally:
            os.close(received)


def test_receive_fd_without_fd_fails():
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"x")
        with pytest.raises(OSError):
            monitor_protocol.receive_fd(right)


def test_read_request_takes_the_stdio_fds():
    ours, theirs = socket.socketpair()
    r, w = os.pipe()
    with ours, theirs:
        socket.send_fds(theirs, [b'{"exec": {"process": "p", '], [r, w, r])
        theirs.sendall(b'"console": null}}\n')
        request, fds = monitor._read_request(ours)
    os.close(r)
    os.close(w)
    assert request == {"exec": {"process": "p", "console": None}}
    assert len(fds) == 3
    for fd in fds:
        os.close(fd)


@pytest.mark.skipif(os.getppid() == 1, reason="our parent is init (the test run was orphaned): "
                    "the ancestry checks stop at pid 1 by design")
def test_parent_and_children_from_proc():
    assert monitor.parent_pid(os.getpid()) == os.getppid()
    assert os.getpid() in monitor.child_pids(os.getppid())
    assert monitor._children_in_pid_ns(os.getppid(), os.getpid()) == []  # same namespace: none


def test_oom_kills_are_counted_from_the_held_memory_events(tmp_path):
    """The fd is opened at create: the scope's path may be gone by the time init is reaped."""
    events = tmp_path / "memory.events"
    events.write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    mon = monitor.Monitor(MonitorConfig("c1", "/b", "crun", "/run/crun", "systemd", str(tmp_path / "log"),
                                        str(tmp_path)), -1)
    mon.memory_events_fd = os.open(str(events), os.O_RDONLY)
    try:
        mon._count_oom_kills()
        assert mon.oom_killed is False
        events.write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n")  # same inode: the kernel updates in place
        mon._count_oom_kills()
        assert mon.oom_killed is True
    finally:
        os.close(mon.memory_events_fd)


def test_no_oom_watch_without_a_cgroup_manager(tmp_path):
    mon = monitor.Monitor(MonitorConfig("c1", "/b", "crun", "/run/crun", "disabled", str(tmp_path / "log"),
                                        str(tmp_path)), -1)
    mon._count_oom_kills()
    assert mon.oom_killed is False and mon.memory_events_fd == -1
