"""The whiteout and opaque-dir markers the drivers read and write.

Layers (images/layer_tar.py) and the kernel overlay upper dir use the overlayfs
format (Documentation/filesystems/overlayfs.rst, "whiteouts and opaque
directories"): a deleted path is a character device 0/0, and an opaque dir
has the xattr user.overlay.opaque=y (trusted.overlay.opaque=y outside a user
namespace). fuse-overlayfs 1.10 reads those in its lowers, but in its own
upper dir it marks an opaque dir with user.fuseoverlayfs.opaque=y plus two
entries, a `.wh..wh..opq` file and a `.wh..opq` 0/0 device (verified by
experiment). Whoever reads an upper dir (commit, diff, export) should use
is_whiteout(), is_opaque_dir() and skip is_internal_name().
"""
from __future__ import annotations

import os
import stat

OPAQUE_XATTRS = ("user.overlay.opaque", "trusted.overlay.opaque", "user.fuseoverlayfs.opaque")
# Driver bookkeeping xattrs that must not leak into a copy or a committed layer.
PRIVATE_XATTR_PREFIXES = ("user.overlay.", "trusted.overlay.", "user.fuseoverlayfs.")
AUFS_OPAQUE = ".wh..wh..opq"
FUSE_OPAQUE_WHITEOUT = ".wh..opq"


def is_whiteout(info: os.stat_result) -> bool:
    """A 0/0 character device: the path is deleted in this layer."""
    return stat.S_ISCHR(info.st_mode) and info.st_rdev == 0


def is_internal_name(name: str) -> bool:
    """Marker entries fuse-overlayfs writes into opaque dirs of its upper."""
    return name in (AUFS_OPAQUE, FUSE_OPAQUE_WHITEOUT)


def _has_true_xattr(path: str, name: str) -> bool:
    try:
        return os.getxattr(path, name, follow_symlinks=False) == b"y"
    except OSError:
        return False


def is_opaque_dir(path: str) -> bool:
    """Whether the dir hides everything below it in lower layers."""
    if any(_has_true_xattr(path, name) for name in OPAQUE_XATTRS):
        return True
    return os.path.lexists(os.path.join(path, AUFS_OPAQUE))


def make_whiteout(path: str) -> None:
    """Mark path deleted (mknod of a 0/0 char device is allowed in a userns, Linux >= 5.8)."""
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def mark_opaque(path: str) -> None:
    os.setxattr(path, "user.overlay.opaque", b"y", follow_symlinks=False)


def is_private_xattr(name: str) -> bool:
    return name.startswith(PRIVATE_XATTR_PREFIXES)
