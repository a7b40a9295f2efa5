"""Removed containers' directories: out of the store in one rename, deleted after the answer.

`docker run --rm` waits until the container is removed (condition=removed).
Deleting its directory (the rootfs upper and work dirs, bundle, log, /etc
files) before answering cost 5-150 ms of unlink on this ext4, more the more
the container wrote. Removal now renames the directory into
`<containers>/.trash/` (one atomic step, after which no load or lookup
finds it), answers, and a worker thread deletes it. A daemon killed after
the rename leaves the directory in the trash, which the next daemon's start
empties: crash-safe by construction, as the volume store's and the layer
store's trash are. No fsync of the rename: a power cut that loses it brings
back a stopped container with its files whole, as an unsynced rmtree would.
"""
from __future__ import annotations

import logging
import os
import queue
import secrets
import threading
from typing import Callable, Optional

from rootless.images.crashpoint import crash_point
from rootless.util import fs

logger = logging.getLogger(__name__)

TRASH = ".trash"  # a name no container id has (ids are hex), so loading the records skips it


class ContainerTrash:
    """The trash of one containers dir and the thread that empties it; one per engine."""

    def __init__(self, containers_dir: str, delete: Callable[[str], None] = fs.remove_tree) -> None:
        self.dir = os.path.join(containers_dir, TRASH)
        self._delete = delete
        self._queue: "queue.Queue[str]" = queue.Queue()
        self._worker: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def discard(self, container_dir: str) -> Optional[str]:
        """Rename the container's dir into the trash; its new path (None when it was gone already).

        The step that removes the container from the store: before it the
        record loads at the next start, after it nothing of it does.
        """
        fs.ensure_dir(self.dir)
        doomed = os.path.join(self.dir, f"{os.path.basename(container_dir)}-{secrets.token_hex(4)}")
        try:
            os.rename(container_dir, doomed)
        except FileNotFoundError:
            return None
        crash_point("container-rm:after-trash")
        return doomed

    def delete_later(self, path: str) -> None:
        """Delete path on the trash's worker thread."""
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="container-trash", daemon=True)
                self._worker.start()
        self._queue.put(path)

    def empty(self) -> int:
        """At start: queue what removals a killed daemon renamed here but did not delete; how many."""
        try:
            left = sorted(os.listdir(self.dir))
        except FileNotFoundError:
            return 0
        for name in left:
            self.delete_later(os.path.join(self.dir, name))
        if left:
            logger.info("deleting %d removed containers' directories a previous daemon left", len(left))
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
