"""runtime/conmon_exec.py without conmon: its argv, the sync pipe's lines, the exit code's
sources, and the bridge between an attach socket (a SEQPACKET socketpair here) and local fds."""
from __future__ import annotations

import os
import socket
from typing import Any, Iterator, Tuple

import pytest

from rootless.runtime import conmon_exec
from rootless.runtime.conmon_exec import (GONE, STDERR_PIPE, STDOUT_PIPE, Bridge, ConmonSession, ExecLayout,
                                          LineReader, exec_argv, parse_sync)
from rootless.runtime.crun import Crun

CRUN = Crun("/usr/bin/crun", "/run/user/1/rootless/crun", "cgroupfs")
LAYOUT = ExecLayout("/run/m/c1/conmon-exec-0123456789abcdef")


def _argv(**flags: bool) -> list:  # type: ignore[type-arg]
    options = {"terminal": False, "stdin": False, "attach": True, **flags}
    return exec_argv("/usr/bin/conmon", CRUN, "c1", "e" * 64, LAYOUT, "/run/m/c1/exec-e.json", **options)


def test_argv_is_podmans_exec_with_our_crun() -> None:
    argv = _argv()
    assert argv[0] == "/usr/bin/conmon"
    pairs = dict(zip(argv, argv[1:]))
    assert pairs["--api-version"] == "1"  # the sync pipe names the pid before the exit code
    assert (pairs["--cid"], pairs["--cuuid"], pairs["--runtime"]) == ("c1", "e" * 64, "/usr/bin/crun")
    assert pairs["--bundle"] == LAYOUT.directory and "--full-attach" in argv  # the attach socket in the exec's dir
    assert pairs["--exit-dir"] == LAYOUT.exit_dir and pairs["--container-pidfile"] == LAYOUT.pid_file
    assert pairs["--conmon-pidfile"] == LAYOUT.conmon_pid_file
    assert pairs["--log-path"] == "none"  # nobody attached: conmon reads and drops
    assert pairs["--exec-process-spec"] == "/run/m/c1/exec-e.json" and "--exec" in argv
    runtime_args = [a.split("=", 1)[1] for a in argv if a.startswith("--runtime-arg=")]
    assert runtime_args == ["--cgroup-manager=cgroupfs", "--root", "/run/user/1/rootless/crun",
                            f"--log={LAYOUT.runtime_log}"]  # crun's reason where conmon has none (TTY)
    assert "--exec-attach" in argv and "--stdin" not in argv and "--terminal" not in argv


@pytest.mark.parametrize("flags, present, absent", [
    ({"attach": False}, [], ["--exec-attach"]),
    ({"stdin": True}, ["--stdin"], ["--terminal"]),
    ({"terminal": True, "stdin": True}, ["--terminal", "--stdin"], []),
])
def test_argv_flags(flags: dict, present: list, absent: list) -> None:  # type: ignore[type-arg]
    argv = _argv(**flags)
    assert all(flag in argv for flag in present)
    assert not any(flag in argv for flag in absent)


def test_layout_is_per_exec_next_to_its_process_file() -> None:
    layout = ExecLayout.for_exec("/run/m/c1/exec-" + "ab" * 32 + ".json", "ab" * 32)
    assert layout.directory == "/run/m/c1/conmon-exec-" + "ab" * 8


def test_runtime_reason_is_the_end_of_cruns_log(tmp_path: Any) -> None:
    layout = ExecLayout(str(tmp_path))
    assert conmon_exec._runtime_reason(layout) == ""
    with open(layout.runtime_log, "w") as f:
        f.write("x" * 10000 + "\nexecutable file `nosuch` not found in $PATH: No such file or directory\n")
    reason = conmon_exec._runtime_reason(layout)
    assert len(reason) <= 4096 and reason.endswith("No such file or directory")


@pytest.mark.parametrize("line, expected", [
    (b'{"data": 4242}\n', (4242, "")),
    (b'{"data": 137}\n', (137, "")),
    (b'{"data": -1, "message": "executable file `x` not found"}\n', (-1, "executable file `x` not found")),
])
def test_parse_sync(line: bytes, expected: Tuple[int, str]) -> None:
    assert parse_sync(line) == expected


@pytest.mark.parametrize("line", [b"[]", b'{"pid": 3}', b'{"data": "3"}', b"nope"])
def test_parse_sync_refuses_what_is_not_conmons(line: bytes) -> None:
    with pytest.raises(ValueError):
        parse_sync(line)


@pytest.fixture
def pipe() -> Iterator[Tuple[LineReader, int]]:
    read_fd, write_fd = os.pipe()
    reader = LineReader(read_fd)
    yield reader, write_fd
    reader.close()
    os.close(write_fd)


def test_line_reader_keeps_the_second_line_of_one_read(pipe: Tuple[LineReader, int]) -> None:
    reader, write_fd = pipe
    os.write(write_fd, b'{"data": 7}\n{"data": 0}\n')  # a process that exits at once: both lines in one read
    assert reader.readline(1) == b'{"data": 7}\n'
    assert reader.readline(1) == b'{"data": 0}\n'
    with pytest.raises(TimeoutError):
        reader.readline(0.01)


def _session(tmp_path: Any, write_fd: int, reader: LineReader) -> ConmonSession:
    layout = ExecLayout(str(tmp_path))
    os.makedirs(layout.exit_dir)
    return ConmonSession(layout, "c1", reader, pid=4242, conmon_pid=4241)


def test_wait_reads_the_code_after_the_pid(tmp_path: Any, pipe: Tuple[LineReader, int]) -> None:
    reader, write_fd = pipe
    session = _session(tmp_path, write_fd, reader)
    assert session.poll() is None
    os.write(write_fd, b'{"data": 3}\n')
    assert session.wait(1) == 3 and session.poll() == 3


def test_wait_falls_back_to_the_exit_file_then_gone(tmp_path: Any, pipe: Tuple[LineReader, int]) -> None:
    reader, write_fd = pipe
    session = _session(tmp_path, write_fd, reader)
    with open(os.path.join(session.layout.exit_dir, "c1"), "w") as f:
        f.write("143")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, write_fd)  # the pipe's write end closes: EOF, conmon gone without a line
    os.close(null)
    assert session.wait(1) == 143
    other = ConmonSession(ExecLayout(str(tmp_path / "none")), "c1", LineReader(-1), 1, 1)
    assert other.wait(1) == GONE


@pytest.mark.skipif(os.getppid() == 1, reason="our parent is init (the test run was orphaned): "
                    "the ancestry checks stop at pid 1 by design")
def test_parent_pid_is_what_kill_checks() -> None:
    """kill() signals only a process whose parent is still its conmon (a pidfd holds it meanwhile)."""
    assert conmon_exec._parent_pid(os.getpid()) == os.getppid()
    assert conmon_exec._parent_pid(2 ** 22 + 1) is None  # above pid_max: no such process
    assert conmon_exec._descends_from(os.getpid(), os.getppid())
    assert not conmon_exec._descends_from(os.getppid(), os.getpid())


@pytest.fixture
def attach() -> Iterator[Tuple[socket.socket, socket.socket]]:
    ours, conmon = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    yield ours, conmon
    conmon.close()


def _read_all(fd: int) -> bytes:
    data = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return data
        data += chunk


def test_bridge_splits_streams_and_ends_them(attach: Tuple[socket.socket, socket.socket]) -> None:
    ours, conmon = attach
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe()
    bridge = Bridge(ours, {STDOUT_PIPE: out_w, STDERR_PIPE: err_w}, in_r)
    conmon.send(bytes([STDOUT_PIPE]) + b"out")
    conmon.send(bytes([STDERR_PIPE]) + b"err")
    conmon.send(bytes([1]) + b"stdin's byte: never sent by conmon, dropped")
    os.write(in_w, b"typed")
    assert conmon.recv(100) == b"typed"
    os.close(in_w)  # the end of stdin is conmon's EOF on the socket
    assert conmon.recv(100) == b""
    conmon.shutdown(socket.SHUT_WR)  # conmon exits
    assert (_read_all(out_r), _read_all(err_r)) == (b"out", b"err")
    bridge.close()
    os.close(out_r)
    os.close(err_r)


def test_bridge_drains_what_nobody_reads(attach: Tuple[socket.socket, socket.socket]) -> None:
    """conmon writes to an attached socket blocking: a reader gone must not stall the exec."""
    ours, conmon = attach
    out_r, out_w = os.pipe()
    bridge = Bridge(ours, {STDOUT_PIPE: out_w}, -1)
    os.close(out_r)  # the daemon closed its end (EPIPE from now on)
    conmon.settimeout(5)
    for _ in range(1000):  # 8 MB: far more than the socket and the pipe buffer
        conmon.send(bytes([STDOUT_PIPE]) + b"x" * 8192)
    conmon.shutdown(socket.SHUT_WR)
    bridge.close()


def test_bridge_drops_after_detach_with_drain(attach: Tuple[socket.socket, socket.socket]) -> None:
    ours, conmon = attach
    out_r, out_w = os.pipe()
    bridge = Bridge(ours, {STDOUT_PIPE: out_w}, -1)
    bridge.drop()
    conmon.settimeout(5)
    for _ in range(100):  # 800 KB: the pipe (64 KiB) nobody reads would block the bridge
        conmon.send(bytes([STDOUT_PIPE]) + b"x" * 8192)
    conmon.shutdown(socket.SHUT_WR)
    bridge.close()
    assert _read_all(out_r) == b""
    os.close(out_r)


def test_bridge_tty_end_is_eof_on_the_masters_stand_in(attach: Tuple[socket.socket, socket.socket]) -> None:
    ours, conmon = attach
    master, peer = socket.socketpair()
    bridge = Bridge(ours, {STDOUT_PIPE: peer.fileno()}, peer.fileno(), tty=peer)
    conmon.send(bytes([STDOUT_PIPE]) + b"prompt$ ")
    master.sendall(b"ls\r")
    assert conmon.recv(100) == b"ls\r"
    conmon.shutdown(socket.SHUT_WR)
    assert _read_all(master.fileno()) == b"prompt$ "
    master.close()
    bridge.close()


def test_it_keeps_exec_process_s_contract() -> None:
    """engine/execs.py takes either from Supervisor.exec: the same methods and attributes."""
    from rootless.runtime.supervisor import ExecProcess
    public = {name for name in vars(ExecProcess) if not name.startswith("_") or name in ("__enter__", "__exit__")}
    assert public <= set(vars(conmon_exec.ConmonExecProcess))
    process = conmon_exec.ConmonExecProcess(ConmonSession(LAYOUT, "c1", LineReader(-1), 5, 4), "/nonexistent")
    for attribute in ("master_fd", "tty", "stdin", "stdout", "stderr", "process_file", "handle", "pid"):
        getattr(process, attribute)


@pytest.mark.parametrize("detach, killed", [(False, True), (True, False)])
def test_close_ends_a_running_exec_unless_detached(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, detach: bool,
                                                   killed: bool) -> None:
    """As closing the Python monitor's exec connection: an exec nobody can reach any more ends."""
    session = ConmonSession(ExecLayout(str(tmp_path)), "c1", LineReader(-1), 4242, 4241)
    kills: list = []  # type: ignore[type-arg]
    monkeypatch.setattr(session, "kill", lambda: kills.append(session.pid))
    process = conmon_exec.ConmonExecProcess(session, str(tmp_path / "process.json"))
    if detach:
        process.detach()
    process.close()
    assert kills == ([4242] if killed else [])
    assert os.path.isdir(tmp_path) is True  # conmon may still use the exec's dir: kept while the code is unknown


def test_kill_without_pidfds_still_kills(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Linux < 5.3 has no pidfd_open: the same parent check, then kill(2)."""
    import errno
    import signal

    def no_pidfd(pid: int) -> int:
        raise OSError(errno.ENOSYS, "Function not implemented")

    sent: list = []  # type: ignore[type-arg]
    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    monkeypatch.setattr(conmon_exec, "_descends_from", lambda pid, ancestor: ancestor == 4241)
    ConmonSession(ExecLayout(str(tmp_path)), "c1", LineReader(-1), 4242, 4241).kill()
    ConmonSession(ExecLayout(str(tmp_path)), "c1", LineReader(-1), 4242, 9999).kill()  # not its conmon's
    assert sent == [(4242, signal.SIGKILL)]
