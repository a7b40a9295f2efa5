"""A trash dir: a directory leaves its place in one rename, a worker thread deletes it later.

The store's crash-safe removal (volumes, layers and containers use the same
shape): after the rename nothing finds the directory where it was, and a
process killed before the deletion leaves it in the trash, which the next
start empties (empty()). Used where the deletion must not delay an answer:
`docker run --rm` waits for the container's removal (engine/container_trash.py),
and every exit deletes the container's monitor dir (runtime/supervisor.py).
"""
from __future__ import annotations

import logging
import os
import queue
import secrets
import threading
from typing import Callable, Optional

from rootless.util import fs

logger = logging.getLogger(__name__)

TRASH = ".trash"  # a name no container id has (ids are hex): listings of the parent skip it


class Trash:
    """One trash dir (on the filesystem of what is discarded into it) and its deleting thread."""

    def __init__(self, path: str, delete: Callable[[str], None] = fs.remove_tree) -> None:
        self.dir = path
        self._delete = delete
        self._queue: "queue.Queue[str]" = queue.Queue()
        self._worker: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def discard(self, path: str) -> Optional[str]:
        """Rename path into the trash; its new path, None when it was gone already.

        No fsync: a power cut that loses the rename brings the directory back whole,
        as it would bring back files an unsynced rmtree had unlinked.
        """
        fs.ensure_dir(self.dir)
        doomed = os.path.join(self.dir, f"{os.path.basename(path)}-{secrets.token_hex(4)}")
        try:
            os.rename(path, doomed)
        except FileNotFoundError:
            return None
        return doomed

    def delete_later(self, path: str) -> None:
        """Delete path on the trash's worker thread."""
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="trash", daemon=True)
                self._worker.start()
        self._queue.put(path)

    def empty(self) -> int:
        """At start: queue what a killed process renamed here but did not delete; how many."""
        try:
            left = sorted(os.listdir(self.dir))
        except FileNotFoundError:
            return 0
        for name in left:
            self.delete_later(os.path.join(self.dir, name))
        if left:
            logger.info("deleting %d directories a previous daemon left in %s", len(left), self.dir)
        return len(left)

    def _work(self) -> None:
        while True:
            path = self._queue.get()
            try:
                self._delete(path)
            except Exception:  # noqa: BLE001 - one stuck dir must not stop the rest; the next start retries
                logger.exception("can't delete %s (the next start tries again)", path)
            finally:
                self._queue.task_done()
