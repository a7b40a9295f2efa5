"""Count the fsyncs a test makes, and only its own."""
from __future__ import annotations

import os
import threading
from typing import Any, List


def spy_fsync(monkeypatch: Any) -> List[int]:
    """The fds this thread fsyncs from now on; other threads' fsyncs (a worker another test left) go through."""
    synced: List[int] = []
    real, me = os.fsync, threading.get_ident()

    def fsync(fd: Any) -> None:
        if threading.get_ident() == me:
            synced.append(fd)
        else:
            real(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    return synced
