"""Demultiplexing docker's stdcopy streams on the client side.

Non-TTY attach, exec and logs responses are framed: an 8-byte header
(stream byte, three zero bytes, big-endian uint32 length) then the payload;
stream 0 stdin, 1 stdout, 2 stderr, 3 an error from the engine. See the
Docker Engine API, "Attach to a container", section "Stream format". The
client keeps its own small decoder: it never imports runtime code.
"""
from __future__ import annotations

import struct
from typing import Iterable, Iterator, List, Tuple

from rootless.errors import Internal

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3
_HEADER = struct.Struct(">BxxxI")


class Demuxer:
    """Feed raw bytes as they arrive; get back whole (stream, payload) frames."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes) -> List[Tuple[int, bytes]]:
        """Frames completed by data. Raises Internal on a stream-3 (engine error) frame."""
        self._pending += data
        frames: List[Tuple[int, bytes]] = []
        while len(self._pending) >= _HEADER.size:
            stream, length = _HEADER.unpack_from(self._pending)
            end = _HEADER.size + length
            if len(self._pending) < end:
                break
            payload = bytes(self._pending[_HEADER.size:end])
            del self._pending[:end]
            if stream == SYSTEMERR:
                raise Internal(f"error from daemon in stream: {payload.decode('utf-8', 'replace').strip()}")
            frames.append((stream, payload))
        return frames

    @property
    def leftover(self) -> int:
        """Bytes of an incomplete frame still held (non-zero at EOF means truncation)."""
        return len(self._pending)


def demux(chunks: Iterable[bytes]) -> Iterator[Tuple[int, bytes]]:
    """(stream, payload) for every frame in a chunked byte stream."""
    demuxer = Demuxer()
    for chunk in chunks:
        yield from demuxer.feed(chunk)
