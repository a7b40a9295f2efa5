"""Containers outlive the daemon: SIGKILL it, start a new one, everything is still there."""
from __future__ import annotations

import os
import signal
import time

from tests.integration.conftest import Engine, process_alive


def test_sigkilled_daemon_leaves_containers_running(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")  # the docker CLI does not start a daemon; ours does
    eng.docker("pull", "-q", images.busybox, timeout=300)
    eng.docker("run", "-d", "--name", "survivor", images.busybox,
               "sh", "-c", "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.2; done")
    eng.docker("run", "-d", "--name", "always", "--restart", "always", images.busybox, "sleep", "300")
    eng.docker("run", "-d", "--name", "waited", images.busybox, "sh", "-c", "sleep 2; exit 9")
    os.kill(eng.daemon_pid(), signal.SIGKILL)
    time.sleep(0.5)
    eng.cli("info")  # a new daemon on demand
    status = eng.docker("inspect", "-f", "{{.State.Status}}", "survivor", "always").stdout.split()
    assert status == ["running", "running"]
    assert "tick" in eng.docker("logs", "--tail", "1", "survivor").stdout
    assert eng.docker("wait", "waited", timeout=60).stdout.strip() == "9"
    eng.docker("rm", "-f", "survivor", "always", "waited")


def test_stop_all_ends_containers_and_always_ones_come_back(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    """Like a reboot: everything in the namespaces dies; the next daemon restarts `always` containers."""
    eng = fresh_engine
    eng.cli("info")
    eng.docker("pull", "-q", images.busybox, timeout=300)
    eng.docker("run", "-d", "--name", "plain", images.busybox, "sleep", "300")
    eng.docker("run", "-d", "--name", "back", "--restart", "always", images.busybox, "sleep", "300")
    pid = int(eng.docker("inspect", "-f", "{{.State.Pid}}", "plain").stdout)
    out = eng.cli("system", "stop", "--all").stdout
    assert "namespaces released" in out
    time.sleep(0.3)
    assert not process_alive(pid)
    eng.cli("info")
    deadline = time.monotonic() + 20
    while True:
        states = eng.docker("inspect", "-f", "{{.State.Status}}", "plain", "back").stdout.split()
        if states == ["exited", "running"]:
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.2)
    eng.docker("rm", "-f", "plain", "back")
