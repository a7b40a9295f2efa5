"""A thread that keeps swapping paths with symlinks (renameat2 RENAME_EXCHANGE), for race tests.

The confined readers must never follow a swapped-in symlink out of the root
(issue 7, item 2); busybox has no renameat2, so the unit tests race in-process.
"""
from __future__ import annotations

import contextlib
import ctypes
import threading
from typing import Iterator, Sequence, Tuple

AT_FDCWD = -100
RENAME_EXCHANGE = 2


@contextlib.contextmanager
def swapping(pairs: Sequence[Tuple[bytes, bytes]]) -> Iterator[None]:
    """Exchange each (a, b) pair over and over until the with-block ends."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    done = threading.Event()

    def swap() -> None:
        while not done.is_set():
            for a, b in pairs:
                libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE)

    thread = threading.Thread(target=swap)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
