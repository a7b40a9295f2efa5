"""conmon as the per-container monitor (runtime/conmon.py): run, logs, attach, exit codes, recovery.

The module's engine runs with ROOTLESS_MONITOR=conmon (a daemon of its own), whatever the session's.
"""
from __future__ import annotations

import json
import os
import socket
import time
from typing import Dict, Iterator

import pytest

from tests.integration.conftest import DOCKER, Engine, TestUser, kill_engine_processes, make_engine
from tests.integration.containers.ptyrun import PtySession

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/conmon"), reason="conmon is not installed")


class ConmonEngine(Engine):
    @property
    def env(self) -> Dict[str, str]:
        return {**super().env, "ROOTLESS_MONITOR": "conmon"}


@pytest.fixture(scope="module")
def conmon_engine(user: TestUser, busybox: str) -> Iterator[Engine]:
    import shutil
    import tempfile

    base = tempfile.mkdtemp(prefix="rootless-conmon-", dir="/tmp")
    plain = make_engine(user, base)
    eng = ConmonEngine(plain.user, plain.root, plain.run_dir, plain.config_home)
    eng.cli("info")  # starts the daemon on demand
    eng.docker("pull", "-q", busybox, timeout=300)
    yield eng
    eng.stop()
    kill_engine_processes(eng.run_dir)
    shutil.rmtree(base, ignore_errors=True)


def _cid(engine: Engine, name: str) -> str:
    return engine.cli("inspect", "-f", "{{.Id}}", name).stdout.strip()


def _monitor_kind(engine: Engine, name: str) -> str:
    path = os.path.join(engine.run_dir, "monitors", _cid(engine, name), "monitor.kind")
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return "python"


def _state(engine: Engine, name: str) -> Dict[str, object]:
    state: Dict[str, object] = json.loads(engine.cli("inspect", "-f", "{{json .State}}", name).stdout)
    return state


def _wait_status(engine: Engine, name: str, status: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while _state(engine, name)["Status"] != status:
        assert time.monotonic() < deadline, _state(engine, name)
        time.sleep(0.1)


def test_info_shows_conmon(conmon_engine: Engine) -> None:
    assert "Monitor:          conmon" in conmon_engine.cli("info").stdout


def test_run_rm_output_and_exit_codes(conmon_engine: Engine, busybox: str) -> None:
    result = conmon_engine.cli("run", "--rm", busybox, "sh", "-c", "echo out; echo err >&2", check=False)
    assert (result.returncode, result.stdout) == (0, "out\n")
    assert "err" in result.stderr
    assert conmon_engine.cli("run", "--rm", busybox, "sh", "-c", "exit 3", check=False).returncode == 3
    assert conmon_engine.docker("run", "--rm", busybox, "sh", "-c", "exit 3", check=False).returncode == 3
    piped = conmon_engine.docker("run", "--rm", "-i", busybox, "sh", "-c", "cat; echo done", input="in\n")
    assert piped.stdout == "in\ndone\n"
    missing = conmon_engine.docker("run", "--rm", busybox, "no-such-command", check=False)
    assert missing.returncode == 127, missing.stderr


def test_run_d_logs_and_follow(conmon_engine: Engine, busybox: str) -> None:
    eng = conmon_engine
    # sleeps between lines that --since/--until tell apart: conmon stamps all it read at once alike
    script = "echo one; sleep 0.3; printf 'two-'; sleep 0.3; echo half; echo err >&2; sleep 1.5; echo late"
    eng.cli("run", "-d", "--name", "cm-logs", busybox, "sh", "-c", script)
    try:
        assert _monitor_kind(eng, "cm-logs") == "conmon"
        followed = eng.docker("logs", "-f", "cm-logs", timeout=30)
        assert followed.stdout == "one\ntwo-half\nlate\n"
        assert followed.stderr == "err\n"
        assert eng.docker("logs", "cm-logs").stdout == "one\ntwo-half\nlate\n"
        tail = eng.docker("logs", "--tail", "2", "cm-logs")  # the last two lines of either stream
        assert (tail.stdout, tail.stderr) == ("late\n", "err\n")
        assert eng.docker("logs", "--tail", "3", "cm-logs").stdout == "two-half\nlate\n"
        stamped = eng.docker("logs", "-t", "cm-logs").stdout.splitlines()
        assert [line.split(" ", 1)[1] for line in stamped] == ["one", "two-half", "late"]
        assert all(line[:4].isdigit() and line.split(" ")[0].endswith("Z") for line in stamped)
        until = stamped[1].split(" ")[0]
        assert eng.docker("logs", "--until", until, "cm-logs").stdout == "one\ntwo-half\n"
        assert eng.docker("logs", "--since", until, "cm-logs").stdout == "two-half\nlate\n"
        assert _state(eng, "cm-logs")["ExitCode"] == 0
    finally:
        eng.cli("rm", "-f", "cm-logs", check=False)


def test_stop_kill_and_exit_codes(conmon_engine: Engine, busybox: str) -> None:
    eng = conmon_engine
    eng.cli("run", "-d", "--name", "cm-kill", busybox, "sleep", "100")
    eng.cli("run", "-d", "--name", "cm-term", busybox, "sh", "-c", "trap 'exit 143' TERM; sleep 100 & wait")
    eng.cli("run", "-d", "--name", "cm-stop", busybox, "sleep", "100")
    try:
        eng.docker("kill", "cm-kill")
        assert eng.docker("wait", "cm-kill").stdout.strip() == "137"
        eng.docker("stop", "cm-term")
        assert _state(eng, "cm-term")["ExitCode"] == 143
        started = time.monotonic()
        eng.docker("stop", "-t", "1", "cm-stop")  # sleep as pid 1 ignores SIGTERM: killed after 1 s
        assert time.monotonic() - started < 10
        state = _state(eng, "cm-stop")
        assert (state["Status"], state["ExitCode"]) == ("exited", 137)
        assert state["FinishedAt"] > state["StartedAt"]
        eng.cli("start", "cm-stop")  # a stopped conmon container starts again (crun's state was deleted)
        _wait_status(eng, "cm-stop", "running")
    finally:
        eng.cli("rm", "-f", "cm-kill", "cm-term", "cm-stop", check=False)


def test_rm_removes_after_exit_and_restart_policy(conmon_engine: Engine, busybox: str) -> None:
    eng = conmon_engine
    eng.cli("run", "-d", "--rm", "--name", "cm-rm", busybox, "sh", "-c", "sleep 0.2")
    deadline = time.monotonic() + 20
    while eng.cli("inspect", "cm-rm", check=False).returncode == 0:
        assert time.monotonic() < deadline, "--rm container not removed"
        time.sleep(0.1)
    eng.cli("run", "-d", "--name", "cm-restart", "--restart", "on-failure:2", busybox, "sh", "-c", "exit 5")
    try:
        deadline = time.monotonic() + 30
        while not (_state(eng, "cm-restart")["Status"] == "exited"
                   and eng.cli("inspect", "-f", "{{.RestartCount}}", "cm-restart").stdout.strip() == "2"):
            assert time.monotonic() < deadline, _state(eng, "cm-restart")
            time.sleep(0.2)
        assert _state(eng, "cm-restart")["ExitCode"] == 5
    finally:
        eng.cli("rm", "-f", "cm-restart", check=False)


def test_exec_in_a_conmon_container(conmon_engine: Engine, busybox: str) -> None:
    eng = conmon_engine
    eng.cli("run", "-d", "--name", "cm-exec", busybox, "sleep", "100")
    try:
        assert eng.docker("exec", "cm-exec", "sh", "-c", "echo hi; exit 4", check=False).returncode == 4
        assert eng.docker("exec", "cm-exec", "echo", "hello").stdout == "hello\n"
        assert eng.docker("exec", "-i", "cm-exec", "cat", input="piped\n").stdout == "piped\n"
    finally:
        eng.cli("rm", "-f", "cm-exec", check=False)


def _read_until(conn: socket.socket, needle: bytes, timeout: float = 10) -> bytes:
    conn.settimeout(timeout)
    data = b""
    while needle not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_attach_with_a_tty_and_resize(conmon_engine: Engine, busybox: str) -> None:
    eng = conmon_engine
    eng.cli("run", "-dit", "--name", "cm-tty", busybox, "sh")
    try:
        client = eng.client()
        client.api.resize("cm-tty", height=33, width=111)
        conn = client.api.attach_socket("cm-tty", params={"stdin": 1, "stdout": 1, "stream": 1})
        raw = conn._sock
        raw.sendall(b"stty size; echo mark-$((6*7))\n")
        seen = _read_until(raw, b"mark-42")
        assert b"33 111" in seen and b"mark-42" in seen, seen
        raw.sendall(b"exit 6\n")
        raw.close()
        assert eng.docker("wait", "cm-tty").stdout.strip() == "6"
        session = PtySession([DOCKER, "run", "--rm", "-it", busybox, "sh"],
                             eng.user.env(eng.env), eng.user._demote, eng.user.home, rows=21, cols=77)
        assert session.read_until(b"/ #"), session.output
        session.send(b"stty size\r")
        assert session.read_until(b"21 77"), session.output
        session.resize(41, 123)  # SIGWINCH -> the docker CLI's resize request -> conmon's ctl fifo
        assert _resized(session, b"41 123"), session.output
        session.send(b"exit 2\r")
        assert session.wait() == 2, session.output
    finally:
        eng.cli("rm", "-f", "cm-tty", check=False)


def _resized(session: PtySession, size: bytes, tries: int = 10) -> bool:
    """Whether `stty size` shows size within a few tries: the CLI's resize request comes
    asynchronously after its SIGWINCH, later under load than one fixed sleep allows."""
    for _ in range(tries):
        session.send(b"stty size\r")
        if session.read_until(size, timeout=1.0):
            return True
    return False


def test_daemon_killed_while_conmon_container_runs(conmon_engine: Engine, busybox: str) -> None:
    eng = conmon_engine
    eng.cli("run", "-d", "--name", "cm-survive", busybox, "sh", "-c", "trap 'exit 143' TERM; sleep 100 & wait")
    eng.cli("run", "-d", "--name", "cm-exits", busybox, "sh", "-c", "sleep 1; exit 9")
    try:
        pid = _state(eng, "cm-survive")["Pid"]
        eng.kill_daemon()
        time.sleep(1.5)  # cm-exits ends while no daemon runs
        state = _state(eng, "cm-survive")  # starts the daemon again
        assert (state["Status"], state["Pid"]) == ("running", pid)
        _wait_status(eng, "cm-exits", "exited")
        assert _state(eng, "cm-exits")["ExitCode"] == 9
        assert eng.docker("logs", "cm-survive").stdout == ""
        eng.docker("stop", "cm-survive")
        assert _state(eng, "cm-survive")["ExitCode"] == 143
        eng.cli("start", "cm-exits")  # created again after a daemon crash
        _wait_status(eng, "cm-exits", "exited")
        assert _state(eng, "cm-exits")["ExitCode"] == 9
    finally:
        eng.cli("rm", "-f", "cm-survive", "cm-exits", check=False)


def test_python_monitor_still_serves_what_conmon_cannot(conmon_engine: Engine, busybox: str) -> None:
    eng = conmon_engine
    eng.cli("run", "-d", "--name", "cm-rotate", "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
            busybox, "sh", "-c", "echo rotated; sleep 100")
    try:
        assert _monitor_kind(eng, "cm-rotate") == "python"
        deadline = time.monotonic() + 10
        while eng.docker("logs", "cm-rotate").stdout != "rotated\n":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        eng.cli("rm", "-f", "cm-rotate", check=False)


def test_oom_kill_is_recorded(conmon_engine: Engine, busybox: str) -> None:
    eng = conmon_engine
    result = eng.docker("run", "--name", "cm-oom", "--memory", "16m", "--memory-swap", "16m", busybox,
                        "sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}", check=False)
    try:
        if "memory" in result.stderr.lower() and result.returncode == 125:
            pytest.skip(f"no memory limits here: {result.stderr}")
        state = _state(eng, "cm-oom")
        assert state["ExitCode"] == 137, state
        assert state["OOMKilled"] is True, state
    finally:
        eng.cli("rm", "-f", "cm-oom", check=False)


def test_conmon_killed_gives_255_and_the_container_is_cleaned_up(conmon_engine: Engine, busybox: str) -> None:
    eng = conmon_engine
    eng.cli("run", "-d", "--name", "cm-lost", busybox, "sleep", "100")
    try:
        with open(os.path.join(eng.run_dir, "monitors", _cid(eng, "cm-lost"), "monitor.pid")) as f:
            conmon_pid = int(f.read().split()[0])
        with open(f"/proc/{conmon_pid}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[0].endswith(b"conmon")
        init = _state(eng, "cm-lost")["Pid"]
        os.kill(conmon_pid, 9)
        _wait_status(eng, "cm-lost", "exited")
        state = _state(eng, "cm-lost")
        assert state["ExitCode"] == 255, state
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{init}"):  # crun delete --force ended what conmon left
            assert time.monotonic() < deadline, "the container outlived its conmon's cleanup"
            time.sleep(0.1)
        eng.cli("start", "cm-lost")
        _wait_status(eng, "cm-lost", "running")
    finally:
        eng.cli("rm", "-f", "cm-lost", check=False)


def test_log_max_size_starts_the_file_over(conmon_engine: Engine, busybox: str) -> None:
    eng = conmon_engine
    eng.cli("run", "--name", "cm-size", "--log-opt", "max-size=2k", busybox, "sh", "-c",
            "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done")
    try:
        log_path = eng.cli("inspect", "-f", "{{.LogPath}}", "cm-size").stdout.strip()
        assert os.path.getsize(log_path) <= 2048
        with open(log_path, "rb") as f:
            assert f.read(4).isdigit()  # conmon's k8s-file line, not our json-file's
        lines = eng.docker("logs", "cm-size").stdout.splitlines()
        assert lines and lines[-1] == "line-199" and len(lines) < 200
        assert lines == [f"line-{n}" for n in range(200 - len(lines), 200)]
    finally:
        eng.cli("rm", "-f", "cm-size", check=False)
