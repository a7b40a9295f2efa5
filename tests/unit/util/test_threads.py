"""util.threads.start_soon: the caller does not wait for the new thread's start."""
from __future__ import annotations

import threading
import time

from rootless.util import threads


def test_start_soon_runs_the_target_in_a_named_daemon_thread() -> None:
    seen = []
    done = threading.Event()

    def target(a: int, b: int) -> None:
        seen.append((a + b, threading.current_thread().name, threading.current_thread().daemon))
        done.set()

    threads.start_soon(target, (1, 2), "soon-test")
    assert done.wait(5)
    assert seen == [(3, "soon-test", True)]


def test_start_soon_returns_while_the_starter_is_held_up() -> None:
    # The starter thread blocked in a thread start (simulated: held in its own job) does not
    # block a caller: the caller only queues.
    threads.start_soon(lambda: None, (), "warm-up")  # the starter exists
    release = threading.Event()
    hold = threading.Event()
    real_thread = threading.Thread

    class SlowStart(real_thread):  # type: ignore[misc, valid-type]
        def start(self) -> None:
            if self.name == "held":
                hold.set()
                release.wait(5)
            super().start()

    threading.Thread = SlowStart  # type: ignore[misc]
    try:
        threads.start_soon(lambda: None, (), "held")
        assert hold.wait(5)
        ran = threading.Event()
        began = time.monotonic()
        threads.start_soon(ran.set, (), "after")
        assert time.monotonic() - began < 0.5 and not ran.is_set()
    finally:
        threading.Thread = real_thread  # type: ignore[misc]
        release.set()
    assert ran.wait(5)
