"""Removed containers' directories: out of the store in one rename, deleted after the answer.

`docker run --rm` waits until the container is removed (condition=removed).
Deleting its directory (the rootfs upper and work dirs, then the bundle, log, /etc
files) before answering cost 5-150 ms of unlink on this ext4, more the more
the container wrote. Removal now renames the directory into
`<containers>/.trash/` (util/trash.py: one atomic step, after which no load
or lookup finds it), answers, and a worker thread deletes it. A daemon
killed after the rename leaves the directory in the trash, which the next
daemon's start empties: crash-safe by construction, as the volume store's
and the layer store's trash are.

A --rm container is renamed into the trash with its rootfs still mounted:
the answer waits for the rename only, the unmount and the monitor dir come
after it (engine/containers.py _release_removed). A daemon killed in between
leaves a mount inside a trash entry: the deletion unmounts what is mounted
under the entry first and refuses to delete through a mount it could not
take off (rmtree would go into the overlay), so the next start retries.

A create killed before the container's first record leaves a dir no load
finds (its rootfs, made by prepare_rootfs): the start discards those too
(empty_at_start), so a killed create is rolled back, not leaked.
"""
from __future__ import annotations

import logging
import os
from typing import Callable, Collection, List, Optional

from rootless.engine.container_model import RECORD_FILE
from rootless.images.crashpoint import crash_point
from rootless.errors import FailedPrecondition
from rootless.runtime.storage.driver import MOUNTINFO, RootfsLayout, detach, is_mount_point, mount_points
from rootless.util import fs
from rootless.util.trash import TRASH, Trash

__all__ = ["TRASH", "ContainerTrash"]

logger = logging.getLogger(__name__)


class ContainerTrash(Trash):
    """The trash of one containers dir; one per engine."""

    def __init__(self, containers_dir: str, delete: Optional[Callable[[str], None]] = None) -> None:
        super().__init__(os.path.join(containers_dir, TRASH), delete or delete_unmounted)
        self.containers_dir = containers_dir

    def discard(self, path: str) -> Optional[str]:
        """The step that removes the container from the store: before it the record loads at
        the next start, after it nothing of it does."""
        doomed = super().discard(path)
        crash_point("container-rm:after-trash")
        return doomed

    def empty_at_start(self, recorded: Collection[str]) -> int:
        """At start, once the records are loaded: discard the dirs of creates killed before their
        first record, then delete what is in the trash (on the worker thread); how many."""
        for container_id in self.unrecorded(recorded):
            logger.warning("removing container dir %s: a killed create left it without a record", container_id)
            self.discard(os.path.join(self.containers_dir, container_id))
        return self.empty()

    def unrecorded(self, recorded: Collection[str]) -> List[str]:
        """Container dirs not in recorded, with no record file at all and no rootfs mounted."""
        names = sorted(n for n in os.listdir(self.containers_dir) if not n.startswith(".") and n not in recorded)
        return [n for n in names if _is_unrecorded_dir(os.path.join(self.containers_dir, n))]


def delete_unmounted(doomed: str) -> None:
    """Unmount whatever is still mounted under a trash entry (deepest first), then delete it.

    One mount table read when nothing is (the usual case: the removal unmounted it)."""
    mounted = mounts_under(doomed)
    if mounted:
        for point in mounted:
            detach(point)
        left = mounts_under(doomed)
        if left:
            raise FailedPrecondition(f"delete {doomed}: still mounted: {', '.join(left)}")
    fs.remove_tree(doomed)


def mounts_under(path: str, mountinfo: str = MOUNTINFO) -> List[str]:
    """The mount points below path, deepest first."""
    points = mount_points(mountinfo)
    prefix = os.path.abspath(path) + "/"
    return sorted((p for p in points if p.startswith(prefix)), reverse=True)


def _is_unrecorded_dir(path: str) -> bool:
    """A torn record (a power cut) does not count: the load skips it with a warning and
    leaves its dir for a human, as before."""
    return (os.path.isdir(path) and not os.path.lexists(os.path.join(path, RECORD_FILE))
            and not is_mount_point(RootfsLayout(os.path.join(path, "rootfs")).merged))
