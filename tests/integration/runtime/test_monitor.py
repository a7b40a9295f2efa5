"""The monitor and supervisor against real crun, as the unprivileged test user.

Each scenario runs inside the engine's user+mount namespace through
`rootless unshare` (scenarios.py) and reports what it saw as JSON.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Dict

import pytest

from tests.integration.conftest import VENV_PYTHON

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture()
def run_scenario(fresh_engine):  # type: ignore[no-untyped-def]
    """Copy the scenario scripts where the test user can read them; run one.

    fresh_engine: only its namespace is used (rootless unshare), no daemon.
    """
    engine = fresh_engine
    base = tempfile.mkdtemp(prefix="rootless-monitor-", dir="/tmp")  # pytest's tmp is 0700 root
    workdir = os.path.join(base, "work")
    os.mkdir(workdir)
    for name in ("bundles.py", "scenarios.py"):
        shutil.copy(os.path.join(HERE, name), os.path.join(base, name))
    os.chmod(base, 0o755)
    os.chown(workdir, engine.user.uid, engine.user.gid)

    def run(name: str) -> Dict[str, Any]:
        script = os.path.join(base, "scenarios.py")
        result = engine.unshare(VENV_PYTHON, script, name, workdir, timeout=90)
        output: Dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        return output

    yield run
    engine.unshare("rm", "-rf", workdir, check=False)
    shutil.rmtree(base, ignore_errors=True)


def test_output_reaches_attach_and_log_and_exit_code_is_recorded(run_scenario):
    got = run_scenario("output_and_exit")
    assert got["frames"] == [[1, "out\n"], [2, "err\n"]]
    assert got["log"] == [["stdout", "out\n"], ["stderr", "err\n"]]
    assert got["exit"]["ExitCode"] == 3 and got["exit"]["Signal"] is None
    assert got["alive"] is False


def test_stdin_once_reaches_cat_and_eof_ends_it(run_scenario):
    got = run_scenario("stdin_once")
    assert "".join(payload for _, payload in got["frames"]) == "hello\nworld\n"
    assert got["exit"]["ExitCode"] == 0


def test_sigkill_gives_137(run_scenario):
    got = run_scenario("sigkill")
    assert got["exit"]["ExitCode"] == 137
    assert got["exit"]["Signal"] == 9


def test_tty_output_and_resize_before_start(run_scenario):
    got = run_scenario("tty")
    text = "".join(payload for _, payload in got["frames"])
    assert text == "/dev/pts/0\r\n40 100\r\nhi\r\n"
    assert all(stream == 1 for stream, _ in got["frames"])
    assert got["exit"]["ExitCode"] == 0


def test_monitor_survives_sigkill_of_its_launcher(run_scenario):
    got = run_scenario("survives_parent")
    assert got["alive_after_parent_death"] is True
    assert got["frames"] == [[1, "late\n"]]
    assert got["exit"]["ExitCode"] == 0


def test_zygote_restarts_and_exec_fallback(run_scenario):
    got = run_scenario("zygote_restart")
    for key, name, code in (("first", "first", 1), ("after_kill", "after", 2), ("again", "again", 3),
                            ("exec_only", "exec", 4)):
        assert got[key] == {"frames": [[1, f"{name}\n"]], "exit": code}
    assert got["new_zygote"] is True


def test_slirp4netns_and_port_forward(run_scenario):
    got = run_scenario("network")
    assert got["body"] == "hello-from-ctr\n"
    assert got["ports"][0]["container_port"] == 80 and got["ports"][0]["host_port"] > 0
    assert "inet 10.0.2.100/24" in got["frames"][0][1]
    assert got["exit"]["ExitCode"] == 137


def test_exec_with_pipes_pty_and_signal(run_scenario):
    got = run_scenario("exec_process")
    assert got["pipes"] == ["piped\n", "err\n", 7]
    assert got["tty"] == ["/dev/pts/0\r\n30 90\r\n", 0]
    assert got["killed"] == 137
    assert got["exit"]["ExitCode"] == 137


def test_slow_attach_client_does_not_block_the_container(run_scenario):
    got = run_scenario("slow_client")
    assert got["exit"]["ExitCode"] == 0
    assert got["log_lines"] == 800 and got["log_bytes"] == 800 * 10001
    assert 0 < got["received"] < 800 * 10001


def test_launch_failures_are_reported_cleanly(run_scenario):
    got = run_scenario("failures")
    assert got["nocmd"][0] == "ToolError"
    assert "no-such-command" in got["nocmd"][1] and got["nocmd"][1].startswith("crun: create failed")
    assert got["nolog"][0] == "Internal" and "/nonexistent/dir/log" in got["nolog"][1]
    assert not any(name.startswith(("nocmd", "nolog")) for name in got["left"])


def test_pasta_and_port_forward(run_scenario):
    got = run_scenario("network_pasta")
    assert got["body"] == "hello-from-ctr\n"
    assert got["ports"][0]["host_port"] > 0
    assert got["pasta_left"] == []
    assert got["exit"]["ExitCode"] == 137


def test_monitor_writes_the_journal_and_none_keeps_nothing(run_scenario):
    got = run_scenario("journald_and_none")
    assert got["journal"][0].startswith("MESSAGE=err\n") and "PRIORITY=3\n" in got["journal"][0]
    assert got["journal"][1].startswith("MESSAGE=out\n") and "CONTAINER_NAME=web\n" in got["journal"][1]
    assert got["log"] == [["stdout", "out\n"], ["stderr", "err\n"]] or \
        sorted(got["log"]) == [["stderr", "err\n"], ["stdout", "out\n"]]
    assert got["none_file"] is False
