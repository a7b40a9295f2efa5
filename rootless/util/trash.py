"""A trash dir: a directory leaves its place in one rename and is deleted after.

The store's crash-safe removal, for every store that removes a directory tree
(volumes, layers, the build cache, containers, monitor dirs): after the rename
nothing finds the directory where it was, and a process killed before the
deletion leaves it in the trash, which the next start empties. Two choices
per caller:

- discard() (fast: no fsync) or discard_durably() (the rename is on disk
  before the deletion starts, so a power cut never brings back a tree with
  half its files unlinked at its old name);
- delete_now() / empty_now() (in the caller's thread, under its lock) or
  delete_later() / empty() (on a worker thread, where the deletion must not
  delay an answer: `docker run --rm` waits for the container's removal,
  engine/container_trash.py; every exit deletes a monitor dir, runtime/supervisor.py).

A source already gone is None, not an error: most callers' removal is done
then; one that found the source under its lock a moment ago raises its own kind.
"""
from __future__ import annotations

import logging
import os
import queue
import secrets
import threading
from typing import Callable, Collection, List, Optional

from rootless.util import fs

logger = logging.getLogger(__name__)

TRASH = ".trash"  # a name no container id has (ids are hex): listings of the parent skip it


class Trash:
    """One trash dir (on the filesystem of what is discarded into it) and its deleting thread.

    keep: names in the trash dir that are not garbage (the layer store's GC journal).
    """

    def __init__(self, path: str, delete: Callable[[str], None] = fs.remove_tree,
                 keep: Collection[str] = ()) -> None:
        self.dir = path
        self._delete = delete
        self._keep = frozenset(keep)
        self._queue: "queue.Queue[str]" = queue.Queue()
        self._worker: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def discard(self, path: str) -> Optional[str]:
        """Rename path into the trash; its new path, None when it was gone already.

        No fsync: a power cut that loses the rename brings the directory back,
        as it would bring back files an unsynced rmtree had unlinked.
        """
        fs.ensure_dir(self.dir)
        doomed = os.path.join(self.dir, f"{os.path.basename(path)}-{secrets.token_hex(4)}")
        try:
            os.rename(path, doomed)
        except FileNotFoundError:
            return None
        return doomed

    def discard_durably(self, path: str) -> Optional[str]:
        """discard(), then the rename made durable (sync_renames_from)."""
        doomed = self.discard(path)
        if doomed is not None:
            self.sync_renames_from(os.path.dirname(path))
        return doomed

    def sync_renames_from(self, parent: str) -> None:
        """fsync both ends of the renames out of parent: once for a batch of discard()s."""
        fs.fsync_dir(self.dir)
        fs.fsync_dir(parent)

    def delete_now(self, doomed: str) -> None:
        """Delete a discarded path in this thread."""
        self._delete(doomed)

    def delete_later(self, doomed: str) -> None:
        """Delete a discarded path on the trash's worker thread."""
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="trash", daemon=True)
                self._worker.start()
        self._queue.put(doomed)

    def empty_now(self) -> int:
        """Delete, in this thread, what is in the trash (a killed process's leftovers); how many."""
        left = self.leftovers()
        for doomed in left:
            self.delete_now(doomed)
        return len(left)

    def empty(self) -> int:
        """At start: queue what a killed process renamed here but did not delete; how many."""
        left = self.leftovers()
        for doomed in left:
            self.delete_later(doomed)
        if left:
            logger.info("deleting %d directories a previous daemon left in %s", len(left), self.dir)
        return len(left)

    def leftovers(self) -> List[str]:
        """Paths in the trash waiting for their deletion, sorted."""
        try:
            names = sorted(os.listdir(self.dir))
        except FileNotFoundError:
            return []
        return [os.path.join(self.dir, name) for name in names if name not in self._keep]

    def _work(self) -> None:
        while True:
            doomed = self._queue.get()
            try:
                self._delete(doomed)
            except Exception:  # noqa: BLE001 - one stuck dir must not stop the rest; the next start retries
                logger.exception("can't delete %s (the next start tries again)", doomed)
            finally:
                self._queue.task_done()
