"""Healthchecks running: one thread per running container with a check, probing through exec.

The daemon owns the probes (as dockerd does), so they stop with the daemon
and resume when a new daemon adopts the running container. Each probe is a
docker exec of the check's command (exec_create/exec_start/exec_die events,
as docker gives); a probe past its timeout is killed and counts as failed.
The rules live in engine/health_config.py; this module holds the threads.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple

from rootless.engine import health_config
from rootless.engine.container_model import Container, now_rfc3339, parse_rfc3339
from rootless.engine.health_config import Probe
from rootless.errors import RootlessError

logger = logging.getLogger(__name__)


class HealthRecords(Protocol):
    """Where results go (engine/containers.py Containers)."""

    def save_health(self, container: Container, health: Optional[Dict[str, Any]]) -> bool:
        """Store State.Health; False when the container is gone (stop probing)."""

    def publish(self, container: Container, action: str, **extra: str) -> None:
        """One container event."""


class ProbeRunner(Protocol):
    """Runs one probe in the container (engine/execs.py ExecService.run_probe)."""

    def run_probe(self, container: Container, argv: List[str], timeout: float) -> Optional[Tuple[int, bytes]]:
        """(exit code, output), or None when the probe ran past timeout (it was killed)."""


class HealthChecks:
    """Starts and stops the probing of containers; one per engine."""

    def __init__(self, records: HealthRecords, runner: ProbeRunner,
                 clock: Callable[[], float] = time.time) -> None:
        self.records = records
        self.runner = runner
        self.clock = clock
        self._stops: Dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def started(self, container: Container, adopted: bool = False) -> None:
        """The container runs: reset its health to starting (kept as it was when adopted) and probe."""
        probe = container.health_probe()
        self._stop_thread(container.id)
        if probe is None:
            return
        health = container.health
        if not adopted or not health:
            health = health_config.starting(health)
            if not self.records.save_health(container, health):
                return
        stop = threading.Event()
        with self._lock:
            self._stops[container.id] = stop
        threading.Thread(target=self._loop, args=(container, probe, stop), daemon=True,
                         name=f"health-{container.id[:12]}").start()

    def stopped(self, container: Container) -> None:
        """The container's process is gone: no more probes; its health reads unhealthy (moby).

        Also when no probe ran here: it exited while no daemon watched it.
        """
        self._stop_thread(container.id)
        health = container.health
        if health and health.get("Status") != "unhealthy":
            self.records.save_health(container, health_config.stopped(health))

    def close(self) -> None:
        """The daemon stops: end every probe loop, leave the records (the next daemon resumes)."""
        with self._lock:
            stops, self._stops = list(self._stops.values()), {}
        for stop in stops:
            stop.set()

    def _stop_thread(self, container_id: str) -> bool:
        with self._lock:
            stop = self._stops.pop(container_id, None)
        if stop is not None:
            stop.set()
        return stop is not None

    def _loop(self, container: Container, probe: Probe, stop: threading.Event) -> None:
        while True:
            health = container.health or {}
            if stop.wait(health_config.next_interval(health, probe, self._since_start(container))):
                return
            if container.status == "paused":
                continue  # a frozen container can't answer: its probe would only time out
            try:
                if not self.probe_once(container, probe, stop):
                    return
            except (RootlessError, OSError) as exc:  # the container went away under the probe
                logger.debug("health probe of %s: %s", container.name, exc)

    def probe_once(self, container: Container, probe: Probe, stop: Optional[threading.Event] = None) -> bool:
        """Run the probe and record its result; False when probing should end."""
        begun = self.clock()
        started_text = now_rfc3339()
        ran = self.runner.run_probe(container, list(probe.argv), probe.timeout)
        if stop is not None and stop.is_set():
            return False  # stopped while probing: moby drops that result
        code, output = health_config.timeout_result(probe) if ran is None else \
            (ran[0], health_config.truncate_output(ran[1]))
        result = {"Start": started_text, "End": now_rfc3339(), "ExitCode": code, "Output": output}
        before = container.health or health_config.starting(None)
        after = health_config.apply_result(before, result, probe, begun - self._started_at(container))
        if not self.records.save_health(container, after):
            return False
        if after["Status"] != before.get("Status"):
            self.records.publish(container, "health_status: " + after["Status"])
        return True

    def _started_at(self, container: Container) -> float:
        try:
            return parse_rfc3339(container.started_at)
        except ValueError:
            return self.clock()

    def _since_start(self, container: Container) -> float:
        return self.clock() - self._started_at(container)
