"""Docker's json-file log format: a writer with size-based rotation and a reader.

One JSON object per line, {"log": text, "stream": "stdout"|"stderr", "time":
RFC3339Nano}, as moby's daemon/logger/jsonfilelog writes it, so `docker logs`
semantics (tail, since, until, follow, timestamps) carry over. Rotated files
are FILE.1 (newest) ... FILE.<max_files-1> (oldest).
"""
from __future__ import annotations

import collections
import json
import logging
import os
import time
from typing import IO, Callable, Dict, Iterator, List, NamedTuple, Optional

from rootless.wire.times import NANO, format_rfc3339
from rootless.wire.times import parse_rfc3339_ns as parse_rfc3339_ns  # re-exported, see format_rfc3339_ns

logger = logging.getLogger(__name__)

# moby splits lines longer than this into partial messages (logger.go).
MAX_PARTIAL = 16 * 1024
# A partial line older than this is written without waiting for its newline.
PARTIAL_FLUSH_SECONDS = 1.0
FOLLOW_POLL_SECONDS = 0.1


class LogEntry(NamedTuple):
    """One log record: stream name, RFC3339Nano time and the raw bytes."""

    stream: str
    time: str
    data: bytes

    @property
    def time_ns(self) -> int:
        return parse_rfc3339_ns(self.time)


def format_rfc3339_ns(ns: int) -> str:
    """UTC time with nanoseconds, like Go's time.RFC3339Nano (without trailing-zero trim).

    TODO(module-splits, engine-core): runtime/monitor.py and engine/container_model.py import
    this and parse_rfc3339_ns from here; use wire.times directly, then drop both names.
    """
    return format_rfc3339(ns, NANO)


def rotated_paths(path: str, max_files: int) -> List[str]:
    """The log files from oldest to newest: FILE.n ... FILE.1, FILE."""
    return [f"{path}.{n}" for n in range(max_files - 1, 0, -1)] + [path]


class JsonFileWriter:
    """Appends entries to a json-file log, rotating by size, buffering partial lines."""

    def __init__(self, path: str, max_size: int = -1, max_files: int = 1) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self._file: IO[bytes] = open(path, "ab")
        self._size = self._file.tell()
        self._partial: Dict[str, bytearray] = {}
        self._partial_since: Dict[str, float] = {}

    def write(self, stream: str, data: bytes, now_ns: Optional[int] = None) -> None:
        """Record output: whole lines at once, the rest kept until its newline."""
        pending = self._partial.setdefault(stream, bytearray())
        if not pending:
            self._partial_since[stream] = time.monotonic()
        pending += data
        while pending:
            newline = pending.find(b"\n", 0, MAX_PARTIAL)
            if newline >= 0:
                cut = newline + 1
            elif len(pending) >= MAX_PARTIAL:
                cut = MAX_PARTIAL
            else:
                break
            self._write_entry(stream, bytes(pending[:cut]), now_ns)
            del pending[:cut]
            self._partial_since[stream] = time.monotonic()

    def flush_partial(self, older_than: float = PARTIAL_FLUSH_SECONDS) -> None:
        """Write out partial lines buffered longer than older_than seconds (0: all)."""
        now = time.monotonic()
        for stream, pending in self._partial.items():
            since = self._partial_since.get(stream, now)
            if pending and now - since >= older_than:
                self._write_entry(stream, bytes(pending), None)
                pending.clear()
                self._partial_since.pop(stream, None)
        self._file.flush()

    def close(self) -> None:
        """Write what is buffered and close the file."""
        self.flush_partial(0)
        self._file.close()

    def _write_entry(self, stream: str, data: bytes, now_ns: Optional[int]) -> None:
        stamp = format_rfc3339_ns(now_ns if now_ns is not None else time.time_ns())
        record = {"log": data.decode("utf-8", "replace"), "stream": stream, "time": stamp}
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        if 0 < self.max_size < self._size + len(line) and self._size > 0:
            self._rotate()
        self._file.write(line)
        self._file.flush()
        self._size += len(line)

    def _rotate(self) -> None:
        """FILE -> FILE.1 -> FILE.2 ...; with max_files 1 the file starts over."""
        self._file.close()
        if self.max_files > 1:
            for number in range(self.max_files - 1, 1, -1):
                older = f"{self.path}.{number - 1}"
                if os.path.exists(older):
                    os.replace(older, f"{self.path}.{number}")
            os.replace(self.path, f"{self.path}.1")
        self._file = open(self.path, "wb")
        self._size = 0


def _parse_line(line: bytes) -> Optional[LogEntry]:
    try:
        record = json.loads(line)
        return LogEntry(record["stream"], record["time"], record["log"].encode("utf-8"))
    except (ValueError, KeyError, TypeError, AttributeError):
        logger.debug("skipping a malformed log line: %r", line[:100])
        return None


def _entries_of(handle: IO[bytes]) -> Iterator[LogEntry]:
    """Whole lines from handle's current position to its end (a torn last line is left)."""
    while True:
        start = handle.tell()
        line = handle.readline()
        if not line:
            return
        if not line.endswith(b"\n"):
            handle.seek(start)
            return
        entry = _parse_line(line)
        if entry is not None:
            yield entry


class LogFilter(NamedTuple):
    """Which entries a reader wants; times are nanoseconds since the epoch."""

    since_ns: int = 0
    until_ns: int = 0

    def wants(self, entry: LogEntry) -> bool:
        if not self.since_ns and not self.until_ns:
            return True
        stamp = entry.time_ns
        if self.since_ns and stamp < self.since_ns:
            return False
        return not (self.until_ns and stamp > self.until_ns)


def read_logs(
    path: str,
    max_files: int = 1,
    tail: Optional[int] = None,
    since_ns: int = 0,
    until_ns: int = 0,
    follow: bool = False,
    is_running: Optional[Callable[[], bool]] = None,
) -> Iterator[LogEntry]:
    """Entries across the rotated files, oldest first.

    tail keeps only the last N entries of what exists now; follow then keeps
    yielding new entries (also across rotations) while is_running() is true.
    """
    wanted = LogFilter(since_ns, until_ns)
    existing = [p for p in rotated_paths(path, max_files) if os.path.exists(p)]
    handle: Optional[IO[bytes]] = None
    backlog: Iterator[LogEntry]
    if tail is not None and tail >= 0:
        last: "collections.deque[LogEntry]" = collections.deque(maxlen=tail)
        for entry in _read_files(existing[:-1]):
            if wanted.wants(entry):
                last.append(entry)
        handle = _open_or_none(path)
        if handle is not None:
            last.extend(e for e in _entries_of(handle) if wanted.wants(e))
        backlog = iter(list(last) if tail > 0 else [])
    else:
        yield from (e for e in _read_files(existing[:-1]) if wanted.wants(e))
        handle = _open_or_none(path)
        backlog = (e for e in _entries_of(handle) if wanted.wants(e)) if handle else iter(())
    try:
        yield from backlog
        if follow:
            yield from _follow(path, handle, wanted, is_running or (lambda: False))
    finally:
        if handle is not None:
            handle.close()


def _open_or_none(path: str) -> Optional[IO[bytes]]:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        return None


def _read_files(paths: List[str]) -> Iterator[LogEntry]:
    for name in paths:
        with open(name, "rb") as handle:
            yield from _entries_of(handle)


def _follow(
    path: str, handle: Optional[IO[bytes]], wanted: LogFilter, is_running: Callable[[], bool]
) -> Iterator[LogEntry]:
    """Poll for growth; after a rotation finish the old file and reopen path."""
    try:
        while True:
            running = is_running()  # asked before reading, so the last output is not missed
            if handle is not None:
                yield from (e for e in _entries_of(handle) if wanted.wants(e))
            if _was_replaced(path, handle):
                if handle is not None:
                    yield from (e for e in _entries_of(handle) if wanted.wants(e))
                    handle.close()
                handle = _open_or_none(path)
                continue
            if not running:
                return
            time.sleep(FOLLOW_POLL_SECONDS)
    finally:
        if handle is not None:
            handle.close()


def _was_replaced(path: str, handle: Optional[IO[bytes]]) -> bool:
    """True when path now names another file than handle (rotated or created)."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    if handle is None:
        return True
    mine = os.fstat(handle.fileno())
    return (current.st_ino, current.st_dev) != (mine.st_ino, mine.st_dev)
