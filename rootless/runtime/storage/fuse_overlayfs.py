"""fuse-overlayfs: overlay semantics from a FUSE helper, for kernels that refuse overlay.

The helper daemonizes once the mount is up, so it outlives the daemon and
keeps serving the rootfs across a daemon restart, like podman's. It reads our
layer format (0/0 whiteouts, user.overlay.opaque) in its lowers; its upper has
its own opaque markers (whiteouts.py). Unmounting with umount2 in our mount
namespace ends the helper (it sees ENODEV on /dev/fuse and exits).
"""
from __future__ import annotations

import logging
from typing import List, Sequence

from rootless.errors import InvalidArgument
from rootless.runtime.storage.driver import (FUSE_OVERLAYFS, MountingDriver, RootfsLayout, lowerdir_paths,
                                             read_idmap)
from rootless.util import linux, proc

logger = logging.getLogger(__name__)

BINARY = "fuse-overlayfs"
# fuse-overlayfs splits lowerdir on ":" and its options on ",".
_UNSAFE_IN_OPTIONS = (",", ":")
FUSE_SUPER_MAGIC = 0x65735546  # linux/magic.h


def on_fuse(path: str) -> bool:
    try:
        return linux.statfs_type(path) == FUSE_SUPER_MAGIC
    except OSError:
        return False


def idmap_options(layout: RootfsLayout) -> str:
    """fuse-overlayfs's uidmapping=/gidmapping= (stored:shown:count, joined by ':'), or ""."""
    record = read_idmap(layout)
    if not record:
        return ""
    uids = ":".join(f"{a}:{b}:{n}" for a, b, n in record["uids"])
    gids = ":".join(f"{a}:{b}:{n}" for a, b, n in record["gids"])
    return f",uidmapping={uids},gidmapping={gids}"


def fuse_overlayfs_argv(lowerdirs: Sequence[str], upper: str, work: str, merged: str,
                        idmap: str = "", noacl: bool = False) -> List[str]:
    """argv mounting lowerdirs (top first) with upper/work at merged.

    noacl: with uidmapping= fuse-overlayfs rewrites the ids inside POSIX ACL
    xattrs, reading system.posix_acl_* of its lowers, and fails every lookup
    on a squashfuse lower (issue 15), which answers EOPNOTSUPP for them;
    squashfs stores no POSIX ACLs, so there is nothing to show.
    """
    for path in list(lowerdirs) + [upper, work]:
        if any(c in path for c in _UNSAFE_IN_OPTIONS):
            raise InvalidArgument(f"mount rootfs: {path}: path contains ',' or ':'",
                                  hint="use a storage root without those characters")
    options = f"lowerdir={':'.join(lowerdirs)},upperdir={upper},workdir={work}{idmap}{',noacl' if noacl else ''}"
    return [BINARY, "-o", options, merged]


class FuseOverlayDriver(MountingDriver):
    """fuse-overlayfs started through util.proc; unmounted with umount2."""

    name = FUSE_OVERLAYFS

    def mount_layers(self, layout: RootfsLayout, lowers: Sequence[str], volatile: bool = False) -> None:
        lowerdirs = lowerdir_paths(lowers, "" if lowers else self.empty_dir(layout))
        idmap = idmap_options(layout)
        noacl = bool(idmap) and any(on_fuse(path) for path in lowerdirs)
        argv = fuse_overlayfs_argv(lowerdirs, layout.upper, layout.work, layout.merged, idmap, noacl)
        # The foreground process exits once the mount is ready; the helper stays.
        proc.run(argv, tool=BINARY, timeout=60)
        logger.debug("mounted fuse-overlayfs at %s (%d layers)", layout.merged, len(lowers))
