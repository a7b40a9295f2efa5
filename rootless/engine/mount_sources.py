"""What start checks and pins of a container's bind sources: volume subpaths and propagation.

VolumeOptions.Subpath (docker >= 26) mounts a directory inside a volume. The
volume is writable by containers, so its path can't be handed to crun as a
string: a container could swap a directory on it for a symlink out of the
volume between our check and crun's mount. As moby's internal/safepath does,
the subpath is opened inside the volume by the kernel (util/confined.py,
openat2 RESOLVE_IN_ROOT: a symlink can never lead out of the volume), that
very file is bind-mounted on a stage path of ours (/proc/self/fd/N), crun
binds the stage, and the stage is unmounted once crun has created the
container (its mount namespace keeps its own copy).

Propagation: moby (daemon/oci_linux.go) lets a bind be shared only when its
source mount is shared, and slave only when it is shared or slave; rootless
asks the same of the source's mount in the engine's own mount namespace. That
namespace is rslave (host/userns.py, as rootlesskit's): a source on a mount the
host shares is a slave there, so rslave binds work and receive host mounts; a
less privileged user namespace only ever gets slave copies of the host's shared
mounts, so no source there is shared and rshared is refused, as docker rootless
refuses it.
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import posixpath
import stat
from typing import Dict, List, Optional, Sequence, Tuple

from rootless.errors import FailedPrecondition
from rootless.util import confined, linux

logger = logging.getLogger(__name__)

SHARED = ("shared", "rshared")
SLAVE = ("slave", "rslave")
NOT_SHARED = ("rootless's mount namespace is a slave of the host's (an unprivileged user namespace only gets "
              "slave copies of shared mounts): use rslave to receive the host's mounts under the source")
NOT_SLAVE = ("the source's mount is private on the host: make it shared there (mount --make-shared), then "
             "restart the engine's namespace ('rootless system stop --all'), which copies the host's mounts")


def stage_path(stage_dir: str, container_id: str, index: int) -> str:
    return os.path.join(stage_dir, f"{container_id[:12]}-{index}")


def pin(volume_dir: str, subpath: str, target: str) -> None:
    """Bind the file or directory subpath names inside volume_dir onto target, resolved confined."""
    unpin(target)  # a stage left by a daemon killed mid start
    try:
        with confined.Root(volume_dir) as root, confined.closing(root.open(subpath, os.O_PATH)) as fd:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                os.makedirs(target, mode=0o700, exist_ok=True)
            else:
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
            linux.mount(f"/proc/self/fd/{fd}", target, None, linux.MS_BIND, None)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        if exc.errno == errno.EXDEV:
            reason = "path concatenation escapes the base directory"
        raise FailedPrecondition(f"cannot access path {posixpath.join(volume_dir, subpath)}: {reason.lower()}",
                                 hint="create the directory in the volume first") from None


def unpin(target: str) -> None:
    """Undo pin(); nothing there is fine."""
    with contextlib.suppress(OSError):
        linux.umount(target, linux.MNT_DETACH)
    with contextlib.suppress(OSError):
        if os.path.isdir(target):
            os.rmdir(target)
        else:
            os.unlink(target)


def propagation_of(options: Sequence[str]) -> str:
    return next((o for o in options if o in SHARED + SLAVE + ("private", "rprivate")), "")


def source_mount(mountinfo: str, path: str) -> Tuple[str, str]:
    """(mount point, optional fields) of the mount path lies on, from a mountinfo table."""
    best: Tuple[str, str] = ("", "")
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 7 or "-" not in fields:
            continue
        point = fields[4].replace("\\040", " ")
        optional = " ".join(fields[6:fields.index("-")])
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]):
            best = (point, optional)
    return best


def check_propagation(source: str, propagation: str, mountinfo: Optional[str] = None) -> None:
    """moby's ensureShared / ensureSharedOrSlave on the engine's mount namespace."""
    if propagation not in SHARED + SLAVE:
        return
    if mountinfo is None:
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            mountinfo = f.read()
    point, optional = source_mount(mountinfo, os.path.realpath(source))
    tags = optional.split()
    if propagation in SHARED and not any(t.startswith("shared:") for t in tags):
        raise FailedPrecondition(f"path {source} is mounted on {point} but it is not a shared mount",
                                 hint=NOT_SHARED)
    if not any(t.startswith(("shared:", "master:")) for t in tags):
        raise FailedPrecondition(f"path {source} is mounted on {point} but it is not a shared or slave mount",
                                 hint=NOT_SLAVE)


class Pins:
    """The stages of one start: made before crun create, unmounted once it is done."""

    def __init__(self) -> None:
        self.targets: List[str] = []

    def pin(self, volume_dir: str, subpath: str, target: str) -> str:
        pin(volume_dir, subpath, target)
        self.targets.append(target)
        return target

    def release(self) -> None:
        for target in self.targets:
            unpin(target)
        self.targets = []


def sources_by_destination(subpaths: Dict[str, str], mounts_sources: Dict[str, str], stage_dir: str,
                           container_id: str, pins: Pins) -> Dict[str, str]:
    """destination -> the stage to bind instead of the volume, for every mount with a subpath."""
    os.makedirs(stage_dir, mode=0o700, exist_ok=True)
    staged = {}
    for index, (destination, subpath) in enumerate(sorted(subpaths.items())):
        staged[destination] = pins.pin(mounts_sources[destination], subpath,
                                       stage_path(stage_dir, container_id, index))
    return staged
