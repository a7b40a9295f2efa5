"""Restart policies across daemon restarts, including when the container's monitor died too."""
from __future__ import annotations

import json
import os
import signal
import time
from typing import List

from tests.integration.conftest import Engine
from tests.integration.containers.waiting import until


def _pid_of(path: str) -> int:
    with open(path) as f:
        text = f.read().strip()
    return int(json.loads(text)["pid"]) if text.startswith("{") else int(text.split()[0])


def _monitor_pid(engine: Engine, container_id: str) -> int:
    return _pid_of(os.path.join(engine.run_dir, "monitors", container_id, "monitor.pid"))


def _states(engine: Engine, *names: str) -> List[str]:
    return engine.cli("inspect", "-f", "{{.State.Status}}", *names).stdout.split()


def test_always_comes_back_after_daemon_and_monitor_were_killed(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    eng.cli("pull", "-q", images.busybox, timeout=300)
    ids = {name: eng.cli("run", "-d", "--name", name, "--restart", policy, images.busybox, "sleep", "300"
                         ).stdout.strip()
           for name, policy in (("always", "always"), ("unless", "unless-stopped"), ("never", "no"))}
    for name, policy in (("stopped-always", "always"), ("stopped-unless", "unless-stopped")):
        eng.cli("run", "-d", "--name", name, "--restart", policy, images.busybox, "sleep", "300")
        eng.cli("stop", "-t", "0", name)
    os.kill(_pid_of(os.path.join(eng.run_dir, "rootlessd.pid")), signal.SIGKILL)
    for container_id in ids.values():
        os.kill(_monitor_pid(eng, container_id), signal.SIGKILL)
    time.sleep(0.5)
    eng.cli("info")  # a new daemon adopts what the old one left
    until(lambda: _states(eng, "always", "unless") == ["running", "running"], 30)
    assert _states(eng, "never") == ["exited"]
    # docker: a stopped `always` container starts again with the daemon, `unless-stopped` does not
    until(lambda: _states(eng, "stopped-always", "stopped-unless") == ["running", "exited"], 30)
    assert eng.cli("exec", "always", "echo", "alive").stdout == "alive\n"
    assert _monitor_pid(eng, ids["always"]) != 0
    # the restarted container is supervised again: stop, wait and rm work
    eng.cli("stop", "-t", "1", "always", "unless")
    assert _states(eng, "always", "unless") == ["exited", "exited"]
    eng.cli("rm", "-f", "always", "unless", "never", "stopped-always", "stopped-unless")


def test_always_restarts_after_exit_and_stop_holds(engine: Engine, busybox: str) -> None:
    engine.cli("run", "-d", "--name", "bouncer", "--restart", "always", busybox, "sh", "-c", "sleep 0.3; exit 3")
    try:
        until(lambda: int(engine.cli("inspect", "-f", "{{.RestartCount}}", "bouncer").stdout) >= 2, 30)
        engine.cli("stop", "-t", "1", "bouncer")
        count = engine.cli("inspect", "-f", "{{.RestartCount}}", "bouncer").stdout
        time.sleep(1.5)
        assert _states(engine, "bouncer") == ["exited"]
        assert engine.cli("inspect", "-f", "{{.RestartCount}}", "bouncer").stdout == count
    finally:
        engine.cli("rm", "-f", "bouncer", check=False)


def test_on_failure_does_not_restart_a_clean_exit(engine: Engine, busybox: str) -> None:
    engine.cli("run", "-d", "--name", "clean", "--restart", "on-failure", busybox, "true")
    try:
        engine.cli("wait", "clean")
        time.sleep(1.0)
        state = engine.cli("inspect", "-f", "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}", "clean")
        assert state.stdout == "0 exited 0\n"
    finally:
        engine.cli("rm", "-f", "clean", check=False)
