"""Removed containers' directories: out of the store in one rename, deleted after the answer.

`docker run --rm` waits until the container is removed (condition=removed).
Deleting its directory (the rootfs upper and work dirs, bundle, log, /etc
files) before answering cost 5-150 ms of unlink on this ext4, more the more
the container wrote. Removal now renames the directory into
`<containers>/.trash/` (util/trash.py: one atomic step, after which no load
or lookup finds it), answers, and a worker thread deletes it. A daemon
killed after the rename leaves the directory in the trash, which the next
daemon's start empties: crash-safe by construction, as the volume store's
and the layer store's trash are.
"""
from __future__ import annotations

import os
from typing import Callable, Optional

from rootless.images.crashpoint import crash_point
from rootless.util import fs
from rootless.util.trash import TRASH, Trash

__all__ = ["TRASH", "ContainerTrash"]


class ContainerTrash(Trash):
    """The trash of one containers dir; one per engine."""

    def __init__(self, containers_dir: str, delete: Callable[[str], None] = fs.remove_tree) -> None:
        super().__init__(os.path.join(containers_dir, TRASH), delete)

    def discard(self, path: str) -> Optional[str]:
        """The step that removes the container from the store: before it the record loads at
        the next start, after it nothing of it does."""
        doomed = super().discard(path)
        crash_point("container-rm:after-trash")
        return doomed
