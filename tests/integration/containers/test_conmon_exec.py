"""Execs under conmon (ROOTLESS_MONITOR=conmon): runtime/conmon_exec.py runs each one as
`conmon --exec`, as podman does, with docker's semantics kept: exit codes (126/127 from crun's
words, 128+N for a signal), stdin and its end, a TTY and its resize, `exec -d` outliving the
daemon, an attached exec ending with its client and with its daemon."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List

import pytest

from tests.integration.conftest import DOCKER, Engine, TestUser, kill_engine_processes, make_engine
from tests.integration.containers.ptyrun import PtySession
from tests.integration.containers.test_crash_safety import _inspect, _processes, _wait_until
from tests.integration.containers.test_exec_survives_daemon import DETACHED, _cmdline, _pids, _start_detached


@dataclass
class ConmonEngine(Engine):
    """An engine whose daemon runs its containers' monitors and execs as conmon."""

    @property
    def env(self) -> Dict[str, str]:
        return {**super().env, "ROOTLESS_MONITOR": "conmon"}


def _conmon_engine(user: TestUser, prefix: str) -> ConmonEngine:
    base = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    eng = make_engine(user, base)
    return ConmonEngine(eng.user, eng.root, eng.run_dir, eng.config_home)


def _close(eng: Engine) -> None:
    eng.stop()
    kill_engine_processes(eng.run_dir)
    shutil.rmtree(os.path.dirname(eng.root), ignore_errors=True)


@pytest.fixture(scope="module")
def ceng(user: TestUser, images) -> Iterator[ConmonEngine]:  # type: ignore[no-untyped-def]
    eng = _conmon_engine(user, "rootless-conmon-exec-")
    eng.cli("info")
    eng.docker("pull", "-q", images.busybox, timeout=300)
    yield eng
    _close(eng)


@pytest.fixture()
def fresh_ceng(user: TestUser) -> Iterator[ConmonEngine]:
    eng = _conmon_engine(user, "rootless-conmon-fresh-")
    yield eng
    _close(eng)


@pytest.fixture(scope="module")
def box(ceng: ConmonEngine, images) -> Dict[str, object]:  # type: ignore[no-untyped-def]
    return _running_container(ceng, images.busybox, "cbox")


def _running_container(eng: Engine, image: str, name: str) -> Dict[str, Any]:
    """A container conmon monitors: --network none (a network's helper still needs the Python monitor)."""
    eng.docker("run", "-d", "--network", "none", "--name", name, image, "sleep", "600")
    info = _inspect(eng, name)
    assert info is not None
    with open(f"/proc/{info['State']['Pid']}/status") as f:
        parent = int(next(line.split()[1] for line in f if line.startswith("PPid:")))
    with open(f"/proc/{parent}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0].endswith(b"conmon"), "not a conmon container"
    return info


def _conmon_execs(eng: Engine) -> List[int]:
    """conmon processes of this engine's execs (their bundle is under its runtime dir)."""
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"conmon") and b"--exec" in argv and any(eng.run_dir.encode() in a for a in argv):
            found.append(int(name))
    return found


@pytest.mark.parametrize("script, code", [("true", 0), ("exit 3", 3), ("kill -9 $$", 137), ("kill -15 $$", 143)])
def test_exit_codes(ceng: ConmonEngine, box, script: str, code: int) -> None:  # type: ignore[no-untyped-def]
    result = ceng.docker("exec", "cbox", "sh", "-c", script, check=False)
    assert result.returncode == code, result.stderr


def test_output_streams_apart(ceng: ConmonEngine, box) -> None:  # type: ignore[no-untyped-def]
    result = ceng.docker("exec", "cbox", "sh", "-c", "echo out; echo err >&2; echo out2", check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "out\nout2\n", "err\n")


def test_large_output_arrives_whole(ceng: ConmonEngine, box) -> None:  # type: ignore[no-untyped-def]
    # conmon sends 8 KiB messages: 1 MiB crosses many of them and the socket's buffer
    result = ceng.docker("exec", "cbox", "sh", "-c", "head -c 1048576 /dev/zero | tr '\\0' x")
    assert result.stdout == "x" * 1048576


@pytest.mark.parametrize("argv, code, words", [(["nosuch"], 127, "not found"),
                                                (["/etc/passwd"], 126, "ermission denied")])
def test_a_command_that_cannot_start(ceng: ConmonEngine, box, argv: List[str], code: int,  # type: ignore[no-untyped-def]
                                     words: str) -> None:
    result = ceng.docker("exec", "cbox", *argv, check=False)
    assert result.returncode == code, result.stderr
    assert words in result.stderr


def test_a_tty_exec_that_cannot_start(ceng: ConmonEngine, box) -> None:  # type: ignore[no-untyped-def]
    """docker's 127 (our monitor gives 255 here: crun writes its reason to the pty); crun's --log has it."""
    result = ceng.docker("exec", "-t", "cbox", "nosuch", check=False)
    assert result.returncode == 127, result.stderr


def test_a_detached_exec_that_cannot_start_gets_127(ceng: ConmonEngine, box) -> None:  # type: ignore[no-untyped-def]
    """crun's reason comes on conmon's sync pipe: the engine still makes docker's code of it."""
    api = ceng.client().api
    exec_id = api.exec_create("cbox", ["nosuch"])["Id"]
    api.exec_start(exec_id, detach=True)
    _wait_until(lambda: not api.exec_inspect(exec_id)["Running"], 10, "the exec never ended")
    assert api.exec_inspect(exec_id)["ExitCode"] == 127


def test_stdin_and_its_end(ceng: ConmonEngine, box) -> None:  # type: ignore[no-untyped-def]
    data = "".join(f"line {i}\n" for i in range(20000))  # > 64 KiB: more than one stdin message and pipe
    result = ceng.docker("exec", "-i", "cbox", "sh", "-c", "cat; echo done", input=data)
    assert result.stdout == data + "done\n"


def test_tty_and_resize(ceng: ConmonEngine, box) -> None:  # type: ignore[no-untyped-def]
    api = ceng.client().api
    exec_id = api.exec_create("cbox", ["sh", "-c", "stty size; read x; stty size"], tty=True, stdin=True)["Id"]
    sock = api.exec_start(exec_id, tty=True, socket=True)._sock
    sock.settimeout(20)
    api.exec_resize(exec_id, height=33, width=77)
    time.sleep(0.3)  # the first stty may run before the resize: the second one, after our line, follows it
    sock.sendall(b"\n")
    output = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        output += chunk
    sock.close()
    assert output.splitlines()[-1].strip() == b"33 77", output
    assert api.exec_inspect(exec_id)["ExitCode"] == 0


def test_tty_exit_code(ceng: ConmonEngine, box) -> None:  # type: ignore[no-untyped-def]
    result = ceng.docker("exec", "-t", "cbox", "sh", "-c", "echo hi; exit 5", check=False)
    assert (result.returncode, result.stdout.replace("\r", "")) == (5, "hi\n")


def test_docker_exec_it_on_a_terminal(ceng: ConmonEngine, box) -> None:  # type: ignore[no-untyped-def]
    """The docker CLI on a real pty: its size at start, a SIGWINCH resize, the exit code."""
    env = ceng.user.env(ceng.env)
    session = PtySession([DOCKER, "exec", "-it", "cbox", "sh"], env, ceng.user._demote, ceng.user.home,
                         rows=33, cols=101)
    assert session.read_until(b"/ #"), session.output
    session.send(b"stty size\r")
    assert session.read_until(b"33 101"), session.output
    session.resize(40, 120)
    time.sleep(0.3)  # the CLI's resize request, then conmon's ctl fifo
    session.send(b"stty size; echo tty-$((6*7))\r")
    assert session.read_until(b"tty-42"), session.output
    assert b"40 120" in session.output
    session.send(b"exit 6\r")
    assert session.wait() == 6


def test_the_exec_runs_under_conmon(ceng: ConmonEngine, box) -> None:  # type: ignore[no-untyped-def]
    init = box["State"]["Pid"]
    ceng.docker("exec", "-d", "cbox", "sleep", "4100")
    _wait_until(lambda: _processes(init, _cmdline(["sleep", "4100"])), 30, "exec did not start")
    pid = _processes(init, _cmdline(["sleep", "4100"]))[0]
    with open(f"/proc/{pid}/status") as f:
        ppid = int(next(line.split()[1] for line in f if line.startswith("PPid:")))
    assert ppid in _conmon_execs(ceng)
    os.kill(pid, signal.SIGKILL)
    _wait_until(lambda: ppid not in _conmon_execs(ceng), 10, "conmon outlived its exec")


def test_an_attached_exec_ends_with_its_client(ceng: ConmonEngine, box) -> None:  # type: ignore[no-untyped-def]
    """Once the exec's stream is up (the 101 read: a client gone before it is another race, in the
    HTTP layer), the client's close kills the process, with stdin, a TTY, or neither."""
    init = box["State"]["Pid"]
    api = ceng.client().api
    for seconds, options in (("4200", {}), ("4201", {"stdin": True}), ("4202", {"tty": True, "stdin": True})):
        cmdline = _cmdline(["sleep", seconds])
        exec_id = api.exec_create("cbox", ["sleep", seconds], **options)["Id"]
        sock = api.exec_start(exec_id, tty=bool(options.get("tty")), socket=True)._sock
        _wait_until(lambda: _processes(init, cmdline), 30, f"exec {options} did not start")
        sock.shutdown(socket.SHUT_RDWR)  # a close, whatever else still holds the fd (docker-py's response)
        sock.close()
        _wait_until(lambda: not _processes(init, cmdline), 10, f"exec {options} outlived its client")
        _wait_until(lambda: api.exec_inspect(exec_id)["ExitCode"] == 137, 10, "no exit code")


def test_a_client_gone_before_the_stream_still_ends_its_exec(ceng: ConmonEngine, box) -> None:  # type: ignore[no-untyped-def]
    """The start request, then a close at once: the process starts, the 101 meets a closed socket
    (EPIPE), and the exec must still end with its client rather than run on unreachable."""
    init = box["State"]["Pid"]
    api = ceng.client().api
    cmdline = _cmdline(["sleep", "4300"])
    exec_id = api.exec_create("cbox", ["sleep", "4300"])["Id"]
    body = b'{"Detach": false, "Tty": false}'
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(ceng.socket)
        sock.sendall(b"POST /exec/" + exec_id.encode() + b"/start HTTP/1.1\r\nHost: d\r\n"
                     b"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    _wait_until(lambda: api.exec_inspect(exec_id)["Pid"] or api.exec_inspect(exec_id)["ExitCode"] is not None,
                30, "the exec never started")
    _wait_until(lambda: not _processes(init, cmdline) and api.exec_inspect(exec_id)["ExitCode"] is not None,
                10, "the exec outlived its client")


def test_docker_py_exec_run(ceng: ConmonEngine, box) -> None:  # type: ignore[no-untyped-def]
    container = ceng.client().containers.get("cbox")
    code, (out, err) = container.exec_run(["sh", "-c", "echo a; echo b >&2; exit 4"], demux=True)
    assert (code, out, err) == (4, b"a\n", b"b\n")


@pytest.mark.parametrize("how", ["system stop", "SIGKILL"])
def test_a_detached_exec_outlives_the_daemon(fresh_ceng: ConmonEngine, images, how: str) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_ceng
    eng.cli("info")
    eng.docker("pull", "-q", images.busybox, timeout=300)
    info = _running_container(eng, images.busybox, "keeper")
    cid, init = info["Id"], info["State"]["Pid"]
    _start_detached(eng, cid, init)
    before = _pids(init)
    attached = _cmdline(["sleep", "4003"])
    client = eng.user.popen([DOCKER, "exec", "keeper", "sleep", "4003"], env=eng.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_until(lambda: _processes(init, attached), 30, "the attached exec did not start")
    if how == "SIGKILL":
        eng.kill_daemon()
    else:
        eng.cli("system", "stop", timeout=60)
    _wait_until(lambda: not _processes(init, attached), 10, "an attached exec outlived its daemon")
    client.wait(30)
    time.sleep(1.0)  # the writer's output had no daemon reading it for that long
    after = _pids(init)  # the writer's sh forks for each sleep: a snapshot may hold one such child
    assert all(set(before[name]) & set(after[name]) for name in DETACHED), f"a detached exec died ({how})"
    eng.cli("info")  # a new daemon
    record = _inspect(eng, "keeper")
    assert record is not None and record["State"]["Status"] == "running"
