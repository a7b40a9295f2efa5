"""docker's JSON progress messages (pull, push, load), as the CLI renders them.

Shapes follow moby's pkg/jsonmessage: {"status", "id", "progressDetail",
"progress"}; sizes use docker/go-units HumanSize (decimal, 4 significant digits).
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from rootless.errors import Unavailable
from rootless.util.digest import digest_hex
from rootless.util.units import human_size

Event = Dict[str, Any]
Emit = Callable[[Event], None]

_BAR_WIDTH = 50
# How often one layer may report bytes: enough for a smooth bar, few lines.
_MIN_INTERVAL = 0.1


def progress_bar(current: int, total: int) -> str:
    """"[=====>      ] 1.2MB/3.4MB", as moby's JSONProgress.String()."""
    if total <= 0:
        return f"{human_size(current):>8}"
    filled = min(int(current * 100 / total) // 2, _BAR_WIDTH)
    bar = "=" * filled + ">" + " " * (_BAR_WIDTH - filled)
    return f"[{bar}] {human_size(current):>8}/{human_size(total)}"


def short_id(digest: str) -> str:
    """The 12-hex id docker shows for a layer."""
    return digest_hex(digest)[:12]


def status(text: str, layer_id: Optional[str] = None, detail: bool = False) -> Event:
    """A status line; detail adds the empty progressDetail docker sends with layer states."""
    event: Event = {"status": text}
    if detail:
        event["progressDetail"] = {}
    if layer_id is not None:
        event["id"] = layer_id
    return event


def progress(text: str, layer_id: str, current: int, total: int) -> Event:
    return {"status": text, "progressDetail": {"current": current, "total": total},
            "progress": progress_bar(current, total), "id": layer_id}


class ByteCounter:
    """A progress callback for one blob: counts bytes, emits throttled events, honours cancel."""

    def __init__(self, emit: Emit, text: str, layer_id: str, total: int,
                 cancelled: Optional[threading.Event] = None) -> None:
        self.emit, self.text, self.layer_id, self.total = emit, text, layer_id, total
        self.cancelled = cancelled
        self.current = 0
        self._last = 0.0

    def __call__(self, count: int) -> None:
        if self.cancelled is not None and self.cancelled.is_set():
            raise Unavailable(f"{self.text.lower()} {self.layer_id}: cancelled")
        self.current += count
        now = time.monotonic()
        if now - self._last >= _MIN_INTERVAL or self.current >= self.total:
            self._last = now
            self.emit(progress(self.text, self.layer_id, self.current, self.total))


# A unit of parallel work: it reports through emit and stops when cancelled is set.
Task = Callable[[Emit, threading.Event], None]
# Put by each task as it ends, so the drain looks at once instead of at its next poll
# (which kept every pull waiting up to POLL_SECONDS after its last layer, bench/README.md).
_TASK_ENDED: Event = {}
POLL_SECONDS = 0.1


def run_parallel(tasks: Sequence[Task], workers: int, name: str) -> Iterator[Event]:
    """Run tasks `workers` at a time, yielding their events as they come; raise the first failure.

    Closing the iterator (the API client went away) or a failure cancels the rest.
    """
    if not tasks:
        return
    events: "queue.Queue[Event]" = queue.Queue()
    cancelled = threading.Event()
    failed: List["Future[None]"] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        futures = [pool.submit(task, events.put, cancelled) for task in tasks]
        for future in futures:
            future.add_done_callback(lambda _future: events.put(_TASK_ENDED))
        try:
            yield from _drain(events, futures, failed)
        finally:
            cancelled.set()
    if failed:
        failed[0].result()  # the first failure, not the cancellations it caused
    while not events.empty():
        event = events.get()
        if event is not _TASK_ENDED:
            yield event


def _drain(events: "queue.Queue[Event]", futures: List["Future[None]"],
           failed: List["Future[None]"]) -> Iterator[Event]:
    """Yield events until every task ended; stop early after the first failure."""
    while not failed:
        try:
            event = events.get(timeout=POLL_SECONDS)
            if event is not _TASK_ENDED:
                yield event
                continue
        except queue.Empty:
            pass
        failed.extend(f for f in futures if f.done() and f.exception() is not None)
        if all(f.done() for f in futures) and events.empty():
            return

