"""A container's log: docker's json-file format with size-based rotation, the journal, and a reader.

One JSON object per line, {"log": text, "stream": "stdout"|"stderr", "time":
RFC3339Nano}, as moby's daemon/logger/jsonfilelog writes it, so `docker logs`
semantics (tail, since, until, follow, timestamps) carry over. Rotated files
are FILE.1 (newest) ... FILE.<max_files-1> (oldest), FILE.n.gz when compressed.

The drivers (issue 11): json-file and local both write that file (local with
docker's defaults: 20m, 5 files, compressed; its protobuf format is dockerd's
business, `docker logs` is what users see); none writes nothing; journald sends
each line to the journal over its native datagram protocol and, like dockerd's
dual logging, keeps the file too so `logs` still reads (cache-disabled=true drops it).

The reader also reads conmon's k8s-file lines (runtime/conmon.py), "TIME
stdout|stderr P|F text": F ends a line (its newline is implied), P is a piece
of one (conmon cuts at its 8 KiB reads). Pieces are joined up to MAX_PARTIAL,
as dockerd cuts long lines, so `docker logs` reads alike whichever monitor
wrote the file; each line is sniffed, so a file both wrote reads whole.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import socket
import struct
import time
from dataclasses import asdict, dataclass, field
from typing import IO, Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Protocol, Tuple

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


def existing_log_files(path: str, max_files: int) -> List[str]:
    """The rotated files there are, oldest first; FILE.n.gz where it was compressed (a FILE.n
    next to it is one a crash left before its compression finished, and the newer copy)."""
    found = []
    for name in rotated_paths(path, max_files):
        if os.path.exists(name):
            found.append(name)
        elif name != path and os.path.exists(name + ".gz"):
            found.append(name + ".gz")
    return found


JOURNAL_SOCKET = "/run/systemd/journal/socket"  # sd_journal_send's (systemd's journal-native protocol)


@dataclass(frozen=True)
class LogSettings:
    """How a container's output is kept: the engine decides it, its monitor applies it."""

    driver: str = "json-file"  # json-file | local | journald | none
    max_size: int = -1  # bytes before rotation; -1: never
    max_files: int = 1
    compress: bool = False  # gzip rotated files
    keep_file: bool = True  # False for none and journald's cache-disabled: `logs` can't read
    journal_socket: str = ""
    journal_fields: Dict[str, str] = field(default_factory=dict)  # CONTAINER_NAME, CONTAINER_ID, ...

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "LogSettings":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class LogWriter(Protocol):
    """What the monitor writes output into."""

    def write(self, stream: str, data: bytes, now_ns: Optional[int] = None) -> None:
        """Record output of stream ("stdout" | "stderr")."""

    def flush_partial(self, older_than: float = PARTIAL_FLUSH_SECONDS) -> None:
        """Write out partial lines buffered longer than older_than seconds."""

    def close(self) -> None:
        """Write what is buffered and let go of the file or socket."""


class LineWriter:
    """Cuts output into entries: whole lines, or MAX_PARTIAL pieces, or a line waiting too long."""

    def __init__(self) -> None:
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
        self._flush()

    def close(self) -> None:
        """Write what is buffered."""
        self.flush_partial(0)

    def _flush(self) -> None:
        """Push what _write_entry wrote."""

    def _write_entry(self, stream: str, data: bytes, now_ns: Optional[int]) -> None:
        raise NotImplementedError


class JsonFileWriter(LineWriter):
    """Appends entries to a json-file log, rotating by size (compressing the rotated files)."""

    def __init__(self, path: str, max_size: int = -1, max_files: int = 1, compress: bool = False) -> None:
        super().__init__()
        self.path = path
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self.compress = compress
        self._file: IO[bytes] = open(path, "ab")
        self._size = self._file.tell()

    def close(self) -> None:
        """Write what is buffered and close the file."""
        super().close()
        self._file.close()

    def _flush(self) -> None:
        self._file.flush()

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
        suffix = ".gz" if self.compress else ""
        if self.max_files > 1:
            for number in range(self.max_files - 1, 1, -1):
                older = f"{self.path}.{number - 1}{suffix}"
                if os.path.exists(older):
                    os.replace(older, f"{self.path}.{number}{suffix}")
            os.replace(self.path, f"{self.path}.1")
            if self.compress:
                compress_file(f"{self.path}.1")
        self._file = open(self.path, "wb")
        self._size = 0


def compress_file(path: str) -> None:
    """path -> path.gz (gzip's fastest level, as dockerd), through a temporary name: a crash
    leaves path whole, and readers prefer it."""
    import gzip  # only when a log rotates: the monitor imports this module on every start

    tmp = f"{path}.gz.tmp"
    with open(path, "rb") as source, gzip.open(tmp, "wb", compresslevel=1) as target:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            target.write(chunk)
    os.replace(tmp, path + ".gz")
    os.unlink(path)


class JournalWriter(LineWriter):
    """Sends each entry to the journal as one datagram of the native protocol
    (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/), with docker's journald fields."""

    def __init__(self, socket_path: str, fields: Dict[str, str]) -> None:
        super().__init__()
        self.socket_path = socket_path
        self.fields = dict(fields)
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        # Never blocking: a journal that can't keep up loses lines (the file keeps them), the
        # monitor's loop, and so the container's output, never waits for it.
        self._socket.setblocking(False)
        self._warned = False

    def close(self) -> None:
        super().close()
        self._socket.close()

    def _write_entry(self, stream: str, data: bytes, now_ns: Optional[int]) -> None:
        partial = not data.endswith(b"\n")
        fields = dict(self.fields, PRIORITY="3" if stream == "stderr" else "6")  # LOG_ERR / LOG_INFO
        if partial:
            fields["CONTAINER_PARTIAL_MESSAGE"] = "true"
        datagram = journal_datagram(data[:-1] if not partial else data, fields)
        try:
            self._socket.sendto(datagram, self.socket_path)
        except OSError as exc:
            if not self._warned:  # once: the file (dual logging) still has every line
                logger.warning("journal: %s: %s; output is kept in the log file only", self.socket_path,
                               os.strerror(exc.errno) if exc.errno else exc)
                self._warned = True


def journal_datagram(message: bytes, fields: Dict[str, str]) -> bytes:
    """MESSAGE plus fields in the native protocol: KEY=value lines, or KEY, a little-endian
    64-bit length and the raw value where the value holds a newline."""
    out = bytearray()
    for key, value in [("MESSAGE", message)] + [(k, v.encode()) for k, v in sorted(fields.items())]:
        if b"\n" in value:
            out += key.encode() + b"\n" + struct.pack("<Q", len(value)) + value + b"\n"
        else:
            out += key.encode() + b"=" + value + b"\n"
    return bytes(out)


class TeeWriter:
    """Every entry to several writers (journald with its file)."""

    def __init__(self, writers: List[LogWriter]) -> None:
        self.writers = writers

    def write(self, stream: str, data: bytes, now_ns: Optional[int] = None) -> None:
        for writer in self.writers:
            writer.write(stream, data, now_ns)

    def flush_partial(self, older_than: float = PARTIAL_FLUSH_SECONDS) -> None:
        for writer in self.writers:
            writer.flush_partial(older_than)

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


def open_log(path: str, settings: LogSettings) -> LogWriter:
    """The writer settings ask for: the file, the journal, both, or nothing (none)."""
    writers: List[LogWriter] = []
    if settings.keep_file:
        writers.append(JsonFileWriter(path, settings.max_size, settings.max_files, settings.compress))
    if settings.driver == "journald":
        writers.append(JournalWriter(settings.journal_socket or JOURNAL_SOCKET, settings.journal_fields))
    return TeeWriter(writers)


def _parse_line(line: bytes) -> Optional[LogEntry]:
    try:
        record = json.loads(line)
        return LogEntry(record["stream"], record["time"], record["log"].encode("utf-8"))
    except (ValueError, KeyError, TypeError, AttributeError):
        logger.debug("skipping a malformed log line: %r", line[:100])
        return None


K8S_STREAMS = (b"stdout", b"stderr")


def parse_k8s_line(line: bytes) -> Optional[Tuple[LogEntry, bool]]:
    """A k8s-file line ("TIME STREAM P|F text\\n") as (entry, partial); None when malformed.

    An F line's text gets its newline back; a P line's is a piece without one.
    """
    parts = line[:-1].split(b" ", 3) if line.endswith(b"\n") else []
    if len(parts) < 3 or parts[1] not in K8S_STREAMS or parts[2] not in (b"P", b"F"):
        logger.debug("skipping a malformed log line: %r", line[:100])
        return None
    text = parts[3] if len(parts) == 4 else b""
    partial = parts[2] == b"P"
    return LogEntry(parts[1].decode(), parts[0].decode("ascii", "replace"), text if partial else text + b"\n"), partial


class Pieces:
    """k8s-file P pieces per stream until their line ends (F) or MAX_PARTIAL is reached."""

    def __init__(self) -> None:
        self.pending: Dict[str, Tuple[str, bytearray]] = {}
        self.since: Dict[str, float] = {}  # stream -> when its first held piece was read (monotonic)

    def add(self, entry: LogEntry, partial: bool) -> Optional[LogEntry]:
        """The whole entry once there is one."""
        held = self.pending.get(entry.stream)
        if held is None:
            if not partial:
                return entry
            held = self.pending[entry.stream] = (entry.time, bytearray())
            self.since[entry.stream] = time.monotonic()
        held[1].extend(entry.data)
        if partial and len(held[1]) < MAX_PARTIAL:
            return None
        del self.pending[entry.stream]
        return LogEntry(entry.stream, held[0], bytes(held[1]))

    def rest(self, older_than: float = 0.0) -> List[LogEntry]:
        """The pieces of lines not ended (the container stopped mid-line; or, following, a prompt
        waiting older_than seconds, as our json-file writer flushes one), oldest first."""
        now = time.monotonic()
        streams = [s for s in self.pending if now - self.since.get(s, now) >= older_than]
        rest = sorted((LogEntry(s, self.pending[s][0], bytes(self.pending.pop(s)[1])) for s in streams),
                      key=lambda e: e.time_ns)
        return rest


def _entries_of(handle: IO[bytes], pieces: Optional[Pieces] = None) -> Iterator[LogEntry]:
    """Whole lines from handle's current position to its end (a torn last line is left).

    pieces: where k8s-file pieces wait across calls (follow); without it, the
    pieces of an unfinished line come out at the end.
    """
    held = pieces if pieces is not None else Pieces()
    while True:
        start = handle.tell()
        line = handle.readline()
        if not line:
            break
        if not line.endswith(b"\n"):
            handle.seek(start)
            break
        if line.startswith(b"{"):  # json-file (our monitor); conmon's lines start with a time
            entry = _parse_line(line)
        else:
            parsed = parse_k8s_line(line)
            entry = held.add(*parsed) if parsed is not None else None
        if entry is not None:
            yield entry
    if pieces is None:
        yield from held.rest()


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
    existing = existing_log_files(path, max_files)
    handle: Optional[IO[bytes]] = None
    backlog: Iterator[LogEntry]
    pieces = Pieces() if follow else None  # a following reader waits for a line's end
    if tail is not None and tail >= 0:
        last: "collections.deque[LogEntry]" = collections.deque(maxlen=tail)
        for entry in _read_files(existing[:-1]):
            if wanted.wants(entry):
                last.append(entry)
        handle = _open_or_none(path)
        if handle is not None:
            last.extend(e for e in _entries_of(handle, pieces) if wanted.wants(e))
        backlog = iter(list(last) if tail > 0 else [])
    else:
        yield from (e for e in _read_files(existing[:-1]) if wanted.wants(e))
        handle = _open_or_none(path)
        backlog = (e for e in _entries_of(handle, pieces) if wanted.wants(e)) if handle else iter(())
    try:
        yield from backlog
        if follow:
            yield from _follow(path, handle, wanted, is_running or (lambda: False), pieces or Pieces())
    finally:
        if handle is not None:
            handle.close()


def _open_or_none(path: str) -> Optional[IO[bytes]]:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        return None


def _read_files(paths: List[str]) -> Iterator[LogEntry]:
    import gzip

    for name in paths:
        with (gzip.open(name, "rb") if name.endswith(".gz") else open(name, "rb")) as handle:
            yield from _entries_of(handle)  # type: ignore[arg-type]


def _follow(
    path: str, handle: Optional[IO[bytes]], wanted: LogFilter, is_running: Callable[[], bool], pieces: Pieces
) -> Iterator[LogEntry]:
    """Poll for growth; after a rotation finish the old file and reopen path."""
    try:
        while True:
            running = is_running()  # asked before reading, so the last output is not missed
            if handle is not None:
                yield from (e for e in _entries_of(handle, pieces) if wanted.wants(e))
            if _was_replaced(path, handle):
                if handle is not None:
                    yield from (e for e in _entries_of(handle, pieces) if wanted.wants(e))
                    handle.close()
                handle = _open_or_none(path)
                continue
            if not running:
                yield from (e for e in pieces.rest() if wanted.wants(e))
                return
            yield from (e for e in pieces.rest(PARTIAL_FLUSH_SECONDS) if wanted.wants(e))
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
