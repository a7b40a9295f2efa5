"""Running out of disk in the store: one error kind that names the full filesystem, and the reserve.

A full disk is not a bug in the engine (never "internal error: [Errno 28]"):
the message says which filesystem is full and which store lives on it, so
the user knows what to clean. Layer unpacking also keeps a reserve free
(Settings.storage_reserve): a layer that expands far beyond its compressed
size (a gzip bomb) is stopped before it takes the last free space on the
filesystem, not after.
"""
from __future__ import annotations

import errno
import logging
import os
from typing import Optional

from rootless.config.settings import StorageReserve
from rootless.errors import FailedPrecondition
from rootless.util.units import human_size

logger = logging.getLogger(__name__)

NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# Charged per tar entry on top of its data: an inode and a directory entry, about one block.
ENTRY_COST = 4096
# Free space is asked again at least this often: other writers share the filesystem.
CHECK_EVERY = 32 << 20
HINT = "free space on that filesystem (e.g. `rootless image prune -a`) and retry"


class NoSpace(FailedPrecondition):
    """The store's filesystem is full, or an unpack would leave less than the reserve free."""


def is_no_space(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS


def mountpoint(path: str) -> str:
    """The mount point of the filesystem holding path (its nearest existing ancestor)."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


def where(path: str, store_root: Optional[str] = None) -> str:
    """"on /mnt/data (store /mnt/data/rootless)": the filesystem first, then the store on it."""
    mount = mountpoint(path)
    return f"on {mount} (store {store_root})" if store_root and store_root != mount else f"on {mount}"


def no_space(what: str, path: str, exc: OSError, store_root: Optional[str] = None) -> NoSpace:
    """The NoSpace for an ENOSPC/EDQUOT that hit `what` (e.g. "can't store blob sha256:...")."""
    reason = "disk quota exceeded" if exc.errno == errno.EDQUOT else "no space left on device"
    return NoSpace(f"{what}: {reason} {where(path, store_root)}", hint=HINT)


def free_bytes(path: str) -> int:
    """Bytes an unprivileged writer may still use on path's filesystem."""
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


def reserve_bytes(path: str, reserve: StorageReserve) -> int:
    info = os.statvfs(path)
    return reserve.bytes_for(info.f_blocks * info.f_frsize)


class SpaceGuard:
    """Charged for every entry an unpack writes; raises NoSpace before the reserve is touched.

    statvfs(2) is asked when the charges since the last answer exhaust the room
    it reported (or CHECK_EVERY bytes), so a 20 GiB member of a 20 MB layer is
    refused at its header, before a byte of it is written.
    """

    def __init__(self, path: str, reserve: StorageReserve, what: str, store_root: Optional[str] = None) -> None:
        self._path, self._what, self._store_root = path, what, store_root
        self._reserve = reserve_bytes(path, reserve)
        self._budget = 0
        self.charged = 0

    def charge(self, data_bytes: int) -> None:
        """Account for one entry with data_bytes of file data, before it is written."""
        cost = data_bytes + ENTRY_COST
        if cost > self._budget:
            self._refresh(cost)
        self._budget -= cost
        self.charged += cost

    def _refresh(self, cost: int) -> None:
        room = free_bytes(self._path) - self._reserve
        if cost > room:
            raise self._refusal(cost)
        self._budget = min(room, CHECK_EVERY)

    def _refusal(self, cost: int) -> NoSpace:
        done, more = human_size(self.charged), human_size(cost)
        place = where(self._path, self._store_root)
        if not self._reserve:
            return NoSpace(f"{self._what}: no space left on device {place} ({done} unpacked, {more} more needed)",
                           hint=HINT)
        return NoSpace(
            f"{self._what}: {done} unpacked and {more} more would leave less than the storage reserve "
            f"({human_size(self._reserve)}) free {place}",
            hint="a layer that expands this much may be a decompression bomb; otherwise " + HINT
                 + ", or lower storage_reserve in config.toml",
        )
