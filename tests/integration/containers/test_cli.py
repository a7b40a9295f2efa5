"""Our own `rootless` CLI against the daemon: docker's verbs, outputs and exit codes."""
from __future__ import annotations

import os

from tests.integration.conftest import VENV_PYTHON, Engine
from tests.integration.containers.ptyrun import PtySession


def test_run_attached_splits_streams_and_returns_the_exit_code(engine: Engine, busybox: str) -> None:
    result = engine.cli("run", "--rm", busybox, "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")


def test_run_exit_codes_for_unrunnable_commands(engine: Engine, busybox: str) -> None:
    assert engine.cli("run", "--rm", busybox, "nosuchcmd", check=False).returncode == 127
    assert engine.cli("run", "--rm", busybox, "/etc/passwd", check=False).returncode == 126
    missing = engine.cli("run", "--pull", "never", "127.0.0.1:1/none", check=False)
    assert missing.returncode == 125 and "No such image" in missing.stderr


def test_stdin_pipe_is_half_closed(engine: Engine, busybox: str) -> None:
    result = engine.cli("run", "--rm", "-i", busybox, "sh", "-c", "cat; echo done", input="a\nb\n")
    assert result.stdout == "a\nb\ndone\n"


def test_detached_lifecycle_ps_logs_exec_inspect(engine: Engine, busybox: str) -> None:
    cid = engine.cli("run", "-d", "--name", "clitest", "-e", "FOO=bar", "-l", "app=x", "-p", "127.0.0.1::8080",
                     busybox, "sh", "-c", "echo started; echo warn >&2; sleep 300").stdout.strip()
    try:
        assert len(cid) == 64
        assert engine.cli("ps", "--format", "{{.Names}} {{.State}} {{.Labels}}").stdout.splitlines().count(
            "clitest running app=x") == 1
        assert cid[:12] in engine.cli("ps", "-q").stdout.split()
        logs = engine.cli("logs", "clitest")
        assert (logs.stdout, logs.stderr) == ("started\n", "warn\n")
        ran = engine.cli("exec", "clitest", "sh", "-c", "echo $FOO; exit 4", check=False)
        assert (ran.returncode, ran.stdout) == (4, "bar\n")
        assert engine.cli("exec", "-i", "clitest", "cat", input="piped\n").stdout == "piped\n"
        status = engine.cli("inspect", "-f", "{{.State.Status}} {{json .Config.Labels}}", "clitest").stdout
        assert status == 'running {"app":"x"}\n'
        assert engine.cli("port", "clitest", "8080").stdout.startswith("127.0.0.1:")
        assert engine.cli("stop", "-t", "1", "clitest").stdout == "clitest\n"
        assert engine.cli("inspect", "-f", "{{.State.ExitCode}}", "clitest").stdout == "137\n"
    finally:
        engine.cli("rm", "-f", "clitest", check=False)
    gone = engine.cli("rm", "-f", "clitest")
    assert gone.returncode == 0 and "No such container" in gone.stderr
    assert engine.cli("rm", "clitest", check=False).returncode == 1


def test_cp_out_of_a_container(engine: Engine, busybox: str) -> None:
    engine.cli("create", "--name", "cpsrc", busybox)
    dest = os.path.join(engine.user.home, "cp-out")
    try:
        engine.cli("cp", "cpsrc:/etc/passwd", dest)
        with open(dest) as f:
            assert f.read().startswith("root:x:0:0")
        listing = engine.user.run(["sh", "-c", f"{VENV_PYTHON} -m rootless.cli cp cpsrc:/etc - | tar t"],
                                  env=engine.env)
        assert "etc/passwd" in listing.stdout.split()
    finally:
        engine.cli("rm", "-f", "cpsrc", check=False)
        engine.user.run(["rm", "-f", dest], check=False)


def test_cp_into_a_container(engine: Engine, busybox: str) -> None:
    src = os.path.join(engine.user.home, "cp-in.txt")
    engine.user.run(["sh", "-c", f"echo hello-in > {src}"])
    engine.cli("run", "-d", "--name", "cpdst", busybox, "sleep", "300")
    try:
        engine.cli("cp", src, "cpdst:/tmp/renamed.txt")
        assert engine.cli("exec", "cpdst", "cat", "/tmp/renamed.txt").stdout == "hello-in\n"
    finally:
        engine.cli("rm", "-f", "cpdst", check=False)


def test_volume_verbs(engine: Engine) -> None:
    assert engine.cli("volume", "create", "clivol").stdout == "clivol\n"
    assert "clivol" in engine.cli("volume", "ls", "-q").stdout.split()
    assert engine.cli("volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "clivol").stdout == "clivol local\n"
    assert engine.cli("volume", "rm", "clivol").stdout == "clivol\n"
    assert engine.cli("volume", "rm", "clivol", check=False).returncode == 1


def test_interactive_shell_through_a_pty(engine: Engine, busybox: str) -> None:
    env = engine.user.env(engine.env)
    session = PtySession([VENV_PYTHON, "-m", "rootless.cli", "run", "-it", "--rm", busybox, "sh"], env,
                         engine.user._demote, engine.user.home, rows=33, cols=101)
    assert session.read_until(b"/ #"), session.output
    session.send(b"echo tty-$((6*7)); tty\r")
    assert session.read_until(b"tty-42"), session.output
    assert session.read_until(b"/dev/pts/"), session.output
    session.send(b"exit 5\r")
    assert session.wait() == 5
