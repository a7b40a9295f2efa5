"""Idle exit: a daemon with no container running and no client for idle_timeout seconds stops (issue 15).

Podman's `system service --time` and its idle tracker (pkg/api/server/idle)
are the model. On a Slurm compute node nothing of the user may outlive the
job: after the daemon's exit the pause process goes too (daemon/main.py),
and the zygote exits when the daemon closes its end.

A connection that arrives between the decision and the server's stop is not
lost: the caller checks `still_idle()` once the server stopped and serves
on when it is not.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

logger = logging.getLogger(__name__)


class IdleWatch:
    """Calls on_idle once the daemon has been idle (is_busy() false) for timeout seconds."""

    def __init__(self, timeout: float, is_busy: Callable[[], bool], on_idle: Callable[[], None],
                 clock: Callable[[], float] = time.monotonic, activity: Callable[[], int] = lambda: 0) -> None:
        """is_busy: something runs now; activity: a count of requests ever accepted, so that
        short requests that fall between two looks still count as use."""
        self.timeout = timeout
        self._busy_now = is_busy
        self._activity = activity
        self._last_activity = activity()
        self._on_idle = on_idle
        self._clock = clock
        self._idle_since: Optional[float] = None
        self.fired = threading.Event()
        self._stop = threading.Event()

    def _is_busy(self) -> bool:
        activity = self._activity()
        fresh, self._last_activity = activity != self._last_activity, activity
        return fresh or self._busy_now()

    def step(self) -> bool:
        """One look; True when the timeout has just run out (on_idle was called)."""
        now = self._clock()
        if self.fired.is_set() or self._is_busy():
            self._idle_since = None
            return False
        if self._idle_since is None:
            self._idle_since = now
        if now - self._idle_since < self.timeout:
            return False
        logger.info("idle for %gs (no containers running, no clients): exiting", self.timeout)
        self.fired.set()
        self._on_idle()
        return True

    def still_idle(self) -> bool:
        """After the server stopped: idle still (exit), or busy again (re-arm and serve on)."""
        if not self._is_busy():
            return True
        logger.info("a client arrived while stopping for idleness: serving on")
        self._idle_since = None
        self.fired.clear()
        return False

    def start(self) -> threading.Thread:
        """Look every ~tenth of the timeout (0.1 to 1 s) in a daemon thread until close()."""
        interval = min(1.0, max(0.1, self.timeout / 10))

        def run() -> None:
            while not self._stop.wait(interval):
                self.step()

        thread = threading.Thread(target=run, name="idle-watch", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self._stop.set()
