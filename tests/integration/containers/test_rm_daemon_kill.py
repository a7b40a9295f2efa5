"""A running --rm container outlives a SIGKILLed daemon, is adopted, and is removed when it stops.

Its record is written at create only (not at start, not at exit: bench/README.md
"The run path, session 9"), so the next daemon finds it "created" with a live
monitor and settles it as a start that was not recorded: running, with its pid,
until it exits, then removed as --rm asks.
"""
from __future__ import annotations

import os
import signal
import time

from tests import imagebuild
from tests.integration.conftest import Engine


def test_a_running_rm_container_is_adopted_and_removed_after_a_daemon_kill(
        fresh_engine: Engine, images: imagebuild.TestImages) -> None:
    eng = fresh_engine
    eng.cli("info")
    eng.docker("pull", "-q", images.busybox, timeout=180)
    eng.docker("run", "-d", "--rm", "--name", "brief", images.busybox, "sh", "-c", "sleep 3; exit 4")
    pid = eng.docker("inspect", "-f", "{{.State.Pid}}", "brief").stdout.strip()
    os.kill(eng.daemon_pid(), signal.SIGKILL)
    time.sleep(0.3)
    eng.cli("info")  # a new daemon on demand
    assert eng.docker("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "brief").stdout.split() == ["running", pid]
    assert eng.docker("wait", "brief", timeout=60).stdout.strip() == "4"
    deadline = time.monotonic() + 20
    while eng.docker("inspect", "brief", check=False).returncode == 0:
        assert time.monotonic() < deadline, "the --rm container was not removed"
        time.sleep(0.1)
    assert eng.docker("ps", "-aq").stdout.strip() == ""
