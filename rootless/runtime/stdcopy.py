"""Docker's stdcopy framing for multiplexed attach, exec and logs streams.

Each frame is an 8-byte header (stream byte, three zero bytes, big-endian
uint32 payload length) and the payload; see the Docker Engine API,
"Attach to a container" / "Stream format".
"""
from __future__ import annotations

import struct
from typing import Dict, List, Optional, Tuple, Union

STDIN, STDOUT, STDERR = 0, 1, 2
STREAM_OF_NAME: Dict[str, int] = {"stdin": STDIN, "stdout": STDOUT, "stderr": STDERR}
NAME_OF_STREAM: Dict[int, str] = {v: k for k, v in STREAM_OF_NAME.items()}
HEADER = struct.Struct(">BxxxI")
# Larger payloads are split so a reader never needs more than this at once.
MAX_FRAME = 1 << 20


def stdcopy_frame(stream: Union[int, str], data: bytes) -> bytes:
    """One or more frames carrying data on stream (1/2 or "stdout"/"stderr")."""
    number = STREAM_OF_NAME[stream] if isinstance(stream, str) else stream
    if len(data) <= MAX_FRAME:
        return HEADER.pack(number, len(data)) + data
    parts = []
    for start in range(0, len(data), MAX_FRAME):
        chunk = data[start:start + MAX_FRAME]
        parts.append(HEADER.pack(number, len(chunk)) + chunk)
    return b"".join(parts)


class FrameDecoder:
    """Incremental decoder: feed bytes as they arrive, get whole frames back."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> List[Tuple[int, bytes]]:
        self._buffer += data
        frames: List[Tuple[int, bytes]] = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return frames
            frames.append(frame)

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
        """Bytes of an incomplete frame still buffered."""
        return len(self._buffer)
