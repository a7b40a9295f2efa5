"""The stall rule of a download: enough bytes every window, or give up.

A registry that sends nothing holds a socket read for as long as the read
timeout; one that sends a byte every few seconds never trips a read timeout at
all and would hold a pull forever. So progress is measured over a window:
at least MIN_PROGRESS_BYTES must arrive within every `seconds`, or the
transfer is stalled. The reading loop feeds the rule after every receive and
the socket's read timeout (the same `seconds`) bounds a receive that brings
nothing, so a stall is noticed within two windows at worst.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

# Less than this per window is not progress (16 KiB a minute is ~270 B/s, at the default).
MIN_PROGRESS_BYTES = 16 << 10
DEFAULT_STALL_SECONDS = 60.0


def describe_seconds(seconds: float) -> str:
    """60.0 -> "60 s", 0.5 -> "0.5 s"."""
    return f"{seconds:g} s"


class StallRule:
    """Tracks one transfer; stalled() says why it should be abandoned, or None."""

    def __init__(self, seconds: float, source: str, min_bytes: int = MIN_PROGRESS_BYTES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.source, self.min_bytes = seconds, source, min_bytes
        self.clock = clock
        self._window_start = clock()
        self._window_bytes = 0

    def feed(self, count: int) -> None:
        """count bytes arrived; a window that reached min_bytes starts a new one."""
        self._window_bytes += count
        if self._window_bytes >= self.min_bytes:
            self._window_start = self.clock()
            self._window_bytes = 0

    def exclude(self, seconds: float) -> None:
        """Time the reader spent on its own work (writing, unpacking) is not the registry's."""
        self._window_start += seconds

    def stalled(self) -> Optional[str]:
        """The reason to give up ("no data from HOST for 60 s"), or None while progressing."""
        if self.clock() - self._window_start < self.seconds:
            return None
        if self._window_bytes == 0:
            return f"no data from {self.source} for {describe_seconds(self.seconds)}"
        return (f"too slow: {self._window_bytes} bytes from {self.source} in "
                f"{describe_seconds(self.seconds)} (less than {self.min_bytes})")
