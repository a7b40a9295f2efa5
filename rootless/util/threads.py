"""Threads started without waiting for their start.

threading.Thread.start() blocks its caller until the new thread runs (a hand-off
through the scheduler and the GIL: ~0.1 ms on an idle host, more on a busy one).
On a latency path (a container's start, between `crun create` and `crun start`)
that wait is pure cost: start_soon() queues the thread for one long-lived starter
thread, which pays the hand-off while the caller goes on.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Optional, Tuple

_Job = Tuple[Callable[..., Any], Tuple[Any, ...], str]

_jobs: "queue.SimpleQueue[_Job]" = queue.SimpleQueue()
_starter: Optional[threading.Thread] = None
_lock = threading.Lock()


def start_soon(target: Callable[..., Any], args: Tuple[Any, ...] = (), name: str = "") -> None:
    """Run target(*args) in a new daemon thread named name, started by the starter thread.

    Only for threads whose work may begin a little later (what they wait for is
    kept: a file, a socket's buffer). The first call starts the starter itself.
    """
    global _starter
    _jobs.put((target, args, name))
    if _starter is None:
        with _lock:
            if _starter is None:
                _starter = threading.Thread(target=_start_queued, name="thread-starter", daemon=True)
                _starter.start()


def _start_queued() -> None:
    while True:
        target, args, name = _jobs.get()
        threading.Thread(target=target, args=args, name=name or None, daemon=True).start()
