"""Polling for a state the engine reaches asynchronously (restarts, removals, log lines)."""
from __future__ import annotations

import time
from typing import Callable


def until(predicate: Callable[[], bool], timeout: float = 15.0, interval: float = 0.1) -> None:
    """Return once predicate() holds; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(interval)
