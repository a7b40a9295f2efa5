"""Choosing a storage driver: get_driver(name, paths) builds one, select_driver() picks the best for this host.

The factory is the one module that imports the drivers (overlay.py,
fuse_overlayfs.py, vfs.py); they import only their base, driver.py.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from typing import Optional

from rootless.config.paths import Paths
from rootless.errors import InvalidArgument
from rootless.runtime.storage.driver import DRIVER_NAMES, FUSE_OVERLAYFS, OVERLAY, VFS, StorageDriver
from rootless.runtime.storage.fuse_overlayfs import FuseOverlayDriver
from rootless.runtime.storage.overlay import OverlayDriver
from rootless.runtime.storage.vfs import VfsDriver
from rootless.util import linux, proc

logger = logging.getLogger(__name__)


def get_driver(name: str, paths: Paths) -> StorageDriver:
    """The driver called name, bound to this store."""
    if name == OVERLAY:
        return OverlayDriver(paths)
    if name == FUSE_OVERLAYFS:
        return FuseOverlayDriver(paths)
    if name == VFS:
        return VfsDriver(paths)
    raise InvalidArgument(
        f"unknown storage driver: {name}",
        hint=f"use one of: {', '.join(DRIVER_NAMES)} (or auto)",
    )


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
