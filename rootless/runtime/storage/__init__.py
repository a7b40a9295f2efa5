"""Root filesystem drivers: kernel overlayfs, fuse-overlayfs, and a copy driver.

The protocol and its lifecycle are in driver.py; get_driver(name, paths)
returns an implementation, select_driver() picks the best one for this host.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from typing import Optional

from rootless.runtime import linux
from rootless.runtime.storage.driver import (
    DRIVER_NAMES,
    FUSE_OVERLAYFS,
    OVERLAY,
    VFS,
    StorageDriver,
    get_driver,
)
from rootless.util import proc

__all__ = [
    "DRIVER_NAMES", "FUSE_OVERLAYFS", "OVERLAY", "VFS", "StorageDriver", "get_driver",
    "select_driver", "overlay_works", "fuse_overlayfs_usable", "driver_binary",
]

logger = logging.getLogger(__name__)


def overlay_works(scratch: str) -> bool:
    """Try a real overlay mount with userxattr (must run inside the namespace)."""
    base = tempfile.mkdtemp(prefix="probe-overlay-", dir=scratch)
    try:
        dirs = {n: os.path.join(base, n) for n in ("lower", "upper", "work", "merged")}
        for d in dirs.values():
            os.mkdir(d)
        options = f"lowerdir={dirs['lower']},upperdir={dirs['upper']},workdir={dirs['work']},userxattr"
        try:
            linux.mount("overlay", dirs["merged"], "overlay", 0, options)
        except OSError as exc:
            logger.debug("overlay probe failed: %s", exc)
            return False
        linux.umount(dirs["merged"], linux.MNT_DETACH)
        return True
    finally:
        shutil.rmtree(base, ignore_errors=True)


def fuse_overlayfs_usable() -> bool:
    """The binary is installed and /dev/fuse is open to us (0666 on most distros)."""
    if proc.which("fuse-overlayfs") is None:
        return False
    return os.access("/dev/fuse", os.R_OK | os.W_OK)


def select_driver(preferred: str, scratch: str) -> str:
    """The driver to use: the configured one, or the best this host supports."""
    if preferred != "auto":
        return preferred
    with contextlib.suppress(OSError):
        os.makedirs(scratch, exist_ok=True)
        if overlay_works(scratch):
            return OVERLAY
    if fuse_overlayfs_usable():
        return FUSE_OVERLAYFS
    return VFS


def driver_binary(name: str) -> Optional[str]:
    return proc.which("fuse-overlayfs") if name == FUSE_OVERLAYFS else None
