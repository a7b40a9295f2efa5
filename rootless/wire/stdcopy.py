"""Docker's stdcopy framing of non-TTY attach, exec and logs streams, both directions.

A frame is an 8-byte header (stream byte, three zero bytes, big-endian uint32
payload length) and the payload; stream 0 stdin, 1 stdout, 2 stderr, 3 an
error from the engine (Docker Engine API, "Attach to a container", "Stream
format"; moby pkg/stdcopy). The server writes frames with frame(), the client
and the engine read them with Demuxer.
"""
from __future__ import annotations

import struct

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast_run.py)
if TYPE_CHECKING:
    from typing import Dict, Iterable, Iterator, List, Optional, Tuple, Union

from rootless.errors import Internal

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3
STREAM_OF_NAME: Dict[str, int] = {"stdin": STDIN, "stdout": STDOUT, "stderr": STDERR}
NAME_OF_STREAM: Dict[int, str] = {v: k for k, v in STREAM_OF_NAME.items()}
HEADER = struct.Struct(">BxxxI")
# Larger payloads are split so a reader never needs more than this at once.
MAX_FRAME = 1 << 20


def frame(stream: Union[int, str], data: bytes) -> bytes:
    """One or more frames carrying data on stream (0-3 or "stdin"/"stdout"/"stderr")."""
    number = STREAM_OF_NAME[stream] if isinstance(stream, str) else stream
    if not 0 <= number <= SYSTEMERR:
        raise ValueError(f"stdcopy: no stream {number}")
    if len(data) <= MAX_FRAME:
        return HEADER.pack(number, len(data)) + data
    return b"".join(HEADER.pack(number, len(data[start:start + MAX_FRAME])) + data[start:start + MAX_FRAME]
                    for start in range(0, len(data), MAX_FRAME))


class Demuxer:
    """Feed raw bytes as they arrive; get back whole (stream, payload) frames.

    A stream-3 frame is the engine reporting an error mid-stream: feed raises
    Internal with its text, as moby's StdCopy returns an error for it.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> List[Tuple[int, bytes]]:
        """Frames completed by data. Raises Internal on a stream-3 (engine error) frame."""
        self._buffer += data
        frames: List[Tuple[int, bytes]] = []
        while True:
            found = self._next_frame()
            if found is None:
                return frames
            stream, payload = found
            if stream == SYSTEMERR:
                raise Internal(f"error from daemon in stream: {payload.decode('utf-8', 'replace').strip()}")
            frames.append(found)

    def _next_frame(self) -> Optional[Tuple[int, bytes]]:
        if len(self._buffer) < HEADER.size:
            return None
        stream, length = HEADER.unpack_from(self._buffer)
        end = HEADER.size + length
        if len(self._buffer) < end:
            return None
        payload = bytes(self._buffer[HEADER.size:end])
        del self._buffer[:end]
        return stream, payload

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still held (non-zero at EOF means truncation)."""
        return len(self._buffer)


def demux(chunks: Iterable[bytes]) -> Iterator[Tuple[int, bytes]]:
    """(stream, payload) for every frame in a chunked byte stream."""
    demuxer = Demuxer()
    for chunk in chunks:
        yield from demuxer.feed(chunk)
