from __future__ import annotations

import threading
import time
from typing import List

import pytest

from rootless.engine import progress as prog
from rootless.errors import Unavailable


def test_progress_bar() -> None:
    bar = prog.progress_bar(5, 10)
    assert bar.startswith("[" + "=" * 25 + ">") and bar.endswith("5B/10B")
    assert prog.progress("Downloading", "abc", 5, 10)["progressDetail"] == {"current": 5, "total": 10}


def test_byte_counter_throttles_and_cancels() -> None:
    seen: List[prog.Event] = []
    cancelled = threading.Event()
    counter = prog.ByteCounter(seen.append, "Downloading", "abc", 100, cancelled)
    for _ in range(10):
        counter(5)
    counter(50)  # reaching the total always reports
    assert seen[0]["progressDetail"]["current"] == 5 and seen[-1]["progressDetail"]["current"] == 100
    assert len(seen) == 2
    cancelled.set()
    with pytest.raises(Unavailable, match="cancelled"):
        counter(1)


def test_run_parallel_yields_all_events() -> None:
    def task(n: int) -> prog.Task:
        return lambda emit, cancelled: emit({"status": "done", "id": str(n)})
    events = list(prog.run_parallel([task(n) for n in range(5)], 2, "t"))
    assert sorted(e["id"] for e in events) == ["0", "1", "2", "3", "4"]


def test_run_parallel_failure_cancels_the_rest() -> None:
    stopped = threading.Event()

    def slow(emit: prog.Emit, cancelled: threading.Event) -> None:
        while not cancelled.wait(0.01):
            pass
        stopped.set()

    def broken(emit: prog.Emit, cancelled: threading.Event) -> None:
        time.sleep(0.05)
        raise Unavailable("fetch blob x: boom")

    with pytest.raises(Unavailable, match="boom"):
        list(prog.run_parallel([slow, broken], 2, "t"))
    assert stopped.is_set()


def test_closing_the_stream_cancels() -> None:
    stopped = threading.Event()

    def chatty(emit: prog.Emit, cancelled: threading.Event) -> None:
        while not cancelled.is_set():
            emit({"status": "tick"})
            time.sleep(0.01)
        stopped.set()

    stream = prog.run_parallel([chatty], 1, "t")
    assert next(stream) == {"status": "tick"}
    stream.close()
    assert stopped.wait(2)


def test_run_parallel_returns_when_the_last_task_ends_not_at_the_next_poll(monkeypatch) -> None:
    """Every pull waited up to a poll interval (0.1 s) after its last download had ended."""
    monkeypatch.setattr(prog, "POLL_SECONDS", 30.0)
    tasks: List[prog.Task] = [lambda emit, cancelled: None, lambda emit, cancelled: time.sleep(0.05)]
    started = time.monotonic()
    assert list(prog.run_parallel(tasks, 2, "t")) == []
    assert time.monotonic() - started < 10


@pytest.mark.timeout(30)
def test_a_failure_is_seen_while_other_tasks_keep_emitting(monkeypatch) -> None:
    """The drain looked for failures only when no event came for a poll interval: never, here."""
    monkeypatch.setattr(prog, "POLL_SECONDS", 30.0, raising=False)

    def chatty(emit: prog.Emit, cancelled: threading.Event) -> None:
        while not cancelled.is_set():
            emit({"status": "tick"})
            time.sleep(0.001)

    def broken(emit: prog.Emit, cancelled: threading.Event) -> None:
        time.sleep(0.02)
        raise Unavailable("fetch blob x: boom")

    started = time.monotonic()
    with pytest.raises(Unavailable, match="boom"):
        list(prog.run_parallel([chatty, broken], 2, "t"))
    assert time.monotonic() - started < 10
