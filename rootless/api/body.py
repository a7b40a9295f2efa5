"""Request bodies: framing (Content-Length or chunked) and the readers that stream them.

A bad frame is a 400 (InvalidArgument) and leaves the connection unusable: the
next request would start somewhere inside this one's body, so the server
closes it (see `broken`). Rules as Go's net/http, which docker's clients expect.
"""
from __future__ import annotations

import re
from typing import IO, Callable, List, Optional

from rootless.errors import InvalidArgument

# Longest chunk-size line (size plus extensions) and trailer section we read.
CHUNK_LINE_MAX = 4096
TRAILER_LINES_MAX = 64
_DIGITS = re.compile(rb"[0-9]{1,18}")  # 18 digits: below 2**63, as Go's ParseInt
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,15}")
READ_SIZE = 65536


def body_length(content_lengths: List[str], transfer_encodings: List[str]) -> Optional[int]:
    """The body's length from its headers; None when it is chunked.

    Raises:
        InvalidArgument: a Content-Length that is not one number, an encoding
            other than chunked, or both headers (a request-smuggling shape).
    """
    if transfer_encodings:
        codings = [c.strip().lower() for te in transfer_encodings for c in te.split(",") if c.strip()]
        if codings != ["chunked"]:
            raise InvalidArgument(f"unsupported Transfer-Encoding: {', '.join(transfer_encodings)!r}")
        if content_lengths:
            raise InvalidArgument("bad request: both Content-Length and Transfer-Encoding given")
        return None
    if not content_lengths:
        return 0
    values = {v.strip() for v in content_lengths}
    if len(values) > 1:
        raise InvalidArgument(f"bad request: conflicting Content-Length values: {', '.join(sorted(values))}")
    value = values.pop()
    if not _DIGITS.fullmatch(value.encode("latin-1")):
        raise InvalidArgument(f"bad request: invalid Content-Length: {value[:40]!r}")
    return int(value)


def parse_chunk_size(line: bytes) -> int:
    """The size from a chunk-size line (hex, optional ;extensions, CRLF)."""
    if not line.endswith(b"\n"):
        if len(line) >= CHUNK_LINE_MAX:
            raise InvalidArgument("bad request: chunk size line too long")
        raise InvalidArgument("bad request: request body ended early (in a chunk size line)")
    size = line.split(b";", 1)[0].strip(b" \t\r\n")
    if not _CHUNK_SIZE.fullmatch(size):
        raise InvalidArgument(f"bad request: invalid chunk size: {size[:20].decode('latin-1')!r}")
    return int(size, 16)


class BodyReader:
    """A request body as a stream: read(size) until b"" at its end.

    done: read to the end, the connection can carry the next request.
    broken: the framing was bad or the client went away mid-body.
    before_read: called once before the first read (sends "100 Continue").
    """

    def __init__(self, raw: IO[bytes], before_read: Optional[Callable[[], None]] = None) -> None:
        self.raw = raw
        self.done = False
        self.broken = False
        self.before_read = before_read
        self.length: Optional[int] = None  # known in advance (Content-Length), else None
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        if self.done:
            return b""
        if self.before_read is not None:
            self.before_read()
            self.before_read = None
        try:
            data = self._read(size)
        except (InvalidArgument, OSError, ValueError):
            self.broken = True
            raise
        self.consumed += len(data)
        return data

    def _read(self, size: int) -> bytes:
        raise NotImplementedError

    def discard(self, limit: int) -> bool:
        """Read and drop the rest if it is at most limit bytes; True if the end was reached."""
        if self.done:
            return True
        if self.broken or (self.length is not None and self.length > limit):
            return False
        total = 0
        try:
            while not self.done and total <= limit:
                total += len(self.read(min(READ_SIZE, limit + 1 - total)))
        except (InvalidArgument, OSError, ValueError):
            return False
        return self.done


class LengthReader(BodyReader):
    """Exactly Content-Length bytes."""

    def __init__(self, raw: IO[bytes], length: int, before_read: Optional[Callable[[], None]] = None) -> None:
        super().__init__(raw, before_read)
        self.length = length
        self.left = length
        self.done = length == 0

    def _read(self, size: int) -> bytes:
        want = self.left if size < 0 else min(size, self.left)
        data = self.raw.read(want)  # a buffered socket reader: short only at EOF
        if len(data) < want:
            raise InvalidArgument(f"bad request: request body ended early: {self.left - len(data)} bytes missing")
        self.left -= len(data)
        self.done = self.left == 0
        return data


class ChunkedReader(BodyReader):
    """A Transfer-Encoding: chunked body, its sizes checked (no negative, no garbage)."""

    def __init__(self, raw: IO[bytes], before_read: Optional[Callable[[], None]] = None) -> None:
        super().__init__(raw, before_read)
        self.left = 0

    def _read(self, size: int) -> bytes:
        out = bytearray()
        while not self.done and (size < 0 or len(out) < size):
            if self.left == 0:
                self.left = parse_chunk_size(self.raw.readline(CHUNK_LINE_MAX))
                if self.left == 0:
                    self._skip_trailers()
                    break
            want = self.left if size < 0 else min(self.left, size - len(out))
            data = self.raw.read(want)
            if not data:
                raise InvalidArgument("bad request: request body ended early (in a chunk)")
            out += data
            self.left -= len(data)
            if self.left == 0 and self.raw.read(2) != b"\r\n":
                raise InvalidArgument("bad request: chunk not followed by CRLF")
        return bytes(out)

    def _skip_trailers(self) -> None:
        for _ in range(TRAILER_LINES_MAX):
            line = self.raw.readline(CHUNK_LINE_MAX)
            if line in (b"\r\n", b"\n"):
                self.done = True
                return
            if not line.endswith(b"\n"):
                raise InvalidArgument("bad request: request body ended early (in its trailers)")
        raise InvalidArgument("bad request: too many trailer lines")
