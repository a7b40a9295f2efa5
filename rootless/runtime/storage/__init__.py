"""Root filesystem drivers: kernel overlayfs, fuse-overlayfs, and a copy driver.

The protocol and its lifecycle are in driver.py, the drivers' shared base;
factory.py imports the drivers: get_driver(name, paths) returns one,
select_driver() picks the best one for this host.
"""
from __future__ import annotations

from rootless.runtime.storage.driver import DRIVER_NAMES, FUSE_OVERLAYFS, OVERLAY, VFS, StorageDriver
from rootless.runtime.storage.factory import (driver_binary, fuse_overlayfs_usable, get_driver, overlay_works,
                                              select_driver)

__all__ = [
    "DRIVER_NAMES", "FUSE_OVERLAYFS", "OVERLAY", "VFS", "StorageDriver", "get_driver",
    "select_driver", "overlay_works", "fuse_overlayfs_usable", "driver_binary",
]
