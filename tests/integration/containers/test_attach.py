"""Attach: the hijacked stream of `run -i`, `attach` to a running container, detach keys."""
from __future__ import annotations

import time

from tests.integration.conftest import DOCKER, VENV_PYTHON, Engine
from tests.integration.containers.ptyrun import PtySession


def test_run_i_never_loses_the_attach_to_the_start(engine: Engine, busybox: str) -> None:
    # docker sends attach, then start at once; an attach queued after the
    # start took the queue never connected (stdin lost, run hung).
    for i in range(8):
        result = engine.docker("run", "--rm", "-i", busybox, "sh", "-c", "cat; echo done", input=f"{i}\n",
                               timeout=30)
        assert result.stdout == f"{i}\ndone\n"
        ours = engine.cli("run", "--rm", "-i", busybox, "cat", input=f"ours {i}\n", timeout=30)
        assert ours.stdout == f"ours {i}\n"


def _session(engine: Engine, argv: list, rows: int = 24, cols: int = 80) -> PtySession:
    return PtySession(argv, engine.user.env(engine.env), engine.user._demote, engine.user.home, rows=rows, cols=cols)


def _cli(*args: str) -> list:
    return [VENV_PYTHON, "-m", "rootless.cli", *args]


def _docker(*args: str) -> list:
    return [DOCKER, *args]


def _running(engine: Engine, name: str) -> str:
    return engine.cli("inspect", "-f", "{{.State.Status}}", name).stdout.strip()


def test_attach_and_detach_with_ctrl_p_ctrl_q(engine: Engine, busybox: str) -> None:
    for tool, name in ((_docker, "detach-docker"), (_cli, "detach-ours")):
        engine.cli("run", "-dit", "--name", name, busybox, "sh")
        try:
            session = _session(engine, tool("attach", name))
            time.sleep(0.5)  # attached before typing (a TTY attach shows no prompt until input)
            session.send(b"echo attached-$((40+2))\r")
            assert session.read_until(b"attached-42"), session.output
            session.send(b"\x10\x11")  # ctrl-p ctrl-q
            assert session.wait() == 1, session.output  # docker's attach treats the detach as an error
            assert b"read escape sequence" in session.output
            assert _running(engine, name) == "running"
            again = _session(engine, tool("attach", name))
            time.sleep(0.5)
            again.send(b"exit 4\r")
            assert again.wait() == 4, again.output
            assert _running(engine, name) == "exited"
        finally:
            engine.cli("rm", "-f", name, check=False)


def test_run_it_detaches_and_custom_detach_keys(engine: Engine, busybox: str) -> None:
    session = _session(engine, _cli("run", "-it", "--name", "runit-detach", "--detach-keys", "ctrl-x,x", busybox, "sh"))
    try:
        assert session.read_until(b"/ #"), session.output
        session.send(b"\x10\x11echo still-typing\r")  # the default keys are ordinary input now
        assert session.read_until(b"still-typing"), session.output
        session.send(b"\x18x")
        assert session.wait() == 0, session.output
        assert _running(engine, "runit-detach") == "running"
    finally:
        engine.cli("rm", "-f", "runit-detach", check=False)


def test_docker_attach_to_a_running_non_tty_container(engine: Engine, busybox: str) -> None:
    engine.cli("run", "-d", "--name", "attach-logs", busybox, "sh", "-c",
               "echo before; sleep 2; echo after; echo oops >&2; exit 6")
    try:
        time.sleep(0.5)
        for docker in (True, False):
            tool = engine.docker if docker else engine.cli
            if not docker:
                engine.cli("start", "attach-logs")
            attached = tool("attach", "attach-logs", timeout=30, check=False)
            assert (attached.returncode, attached.stdout, attached.stderr) == (6, "after\n", "oops\n")
    finally:
        engine.cli("rm", "-f", "attach-logs", check=False)


def test_resize_reaches_the_container(engine: Engine, busybox: str) -> None:
    for tool in (_cli, _docker):
        session = _session(engine, tool("run", "-it", "--rm", busybox, "sh"), rows=30, cols=90)
        assert session.read_until(b"/ #"), session.output
        session.send(b"stty size\r")
        assert session.read_until(b"30 90"), session.output
        session.resize(41, 123)
        time.sleep(0.5)
        session.send(b"stty size\r")
        assert session.read_until(b"41 123"), (tool, session.output)
        session.send(b"exit\r")
        assert session.wait() == 0


def test_ctrl_c_reaches_the_process_and_exec_it(engine: Engine, busybox: str) -> None:
    session = _session(engine, _cli("run", "-it", "--name", "ctrlc", busybox, "sh"))
    try:
        assert session.read_until(b"/ #"), session.output
        session.send(b"trap 'echo caught-int' INT; sleep 30; echo after-sleep\r")
        time.sleep(0.5)
        session.send(b"\x03")
        assert session.read_until(b"caught-int"), session.output
        for tool in (_docker, _cli):
            exec_session = _session(engine, tool("exec", "-it", "-e", "E=x", "-w", "/tmp", "ctrlc", "sh"),
                                    rows=20, cols=70)
            assert exec_session.read_until(b"#"), exec_session.output
            exec_session.send(b"echo in-exec-$E-$(pwd); stty size; exit 3\r")
            assert exec_session.read_until(b"in-exec-x-/tmp"), exec_session.output
            assert exec_session.read_until(b"20 70"), exec_session.output
            assert exec_session.wait() == 3
        session.send(b"exit 0\r")
        assert session.wait() == 0
    finally:
        engine.cli("rm", "-f", "ctrlc", check=False)


def test_twenty_concurrent_runs_through_our_cli_keep_their_output(engine: Engine, busybox: str) -> None:
    import threading
    results: list = [None] * 20

    def run(i: int) -> None:
        results[i] = engine.cli("run", "--rm", busybox, "sh", "-c", f"echo {i}; exit {i % 3}", check=False,
                                timeout=180)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, result in enumerate(results):
        assert result is not None and (result.returncode, result.stdout) == (i % 3, f"{i}\n"), result


def test_sigint_to_an_attached_run_reaches_the_container(engine: Engine, busybox: str) -> None:
    import signal
    import subprocess
    script = "trap 'echo got-int; exit 4' INT; echo ready; while :; do sleep 0.1; done"
    for argv in (_cli("run", "--rm", busybox, "sh", "-c", script), _docker("run", "--rm", busybox, "sh", "-c", script)):
        child = engine.user.popen(argv, env=engine.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert child.stdout is not None and child.stdout.readline() == b"ready\n"
            child.send_signal(signal.SIGINT)  # --sig-proxy (default) forwards it
            out, _ = child.communicate(timeout=30)
            assert (child.returncode, out) == (4, b"got-int\n")
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
