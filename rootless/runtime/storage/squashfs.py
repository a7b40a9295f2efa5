"""Images as single squashfs files (issue 15): made with mksquashfs, mounted with squashfuse.

A parallel filesystem's metadata server suffers from 10k-file layers; one
file per image is what Apptainer (SIF) and Charliecloud do. The file is a
plain squashfs whose root holds two entries (format version 1, README "HPC"):

    rootfs/      the image's root filesystem, flattened (whiteouts applied),
                 owners kept as the image's own (in-container) ids
    image.json   the image's record and config (images/site_store.py reads it)

Export mounts the image's layers read-only as one overlay at a staging dir's
`rootfs`, writes image.json beside it and runs mksquashfs inside the engine's
user namespace, so files keep their in-container owners. To run, squashfuse
mounts the file inside the namespace too (FUSE maps the stored ids through
it, as the layers' ids are) and `<mount>/rootfs` is the container's lowest
(and only) lower dir. The mounts live in the engine's mount namespace: a
restarted daemon finds them; once the pause process is gone they are gone,
and `ensure_mounted` mounts them again from their record.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, List, Sequence, Tuple

from rootless.errors import FailedPrecondition, RootlessError
from rootless.runtime.storage.driver import (RootfsLayout, copy_root_attrs, detach, is_mount_point,
                                             is_stale_mount, mount_points, read_lowers)
from rootless.util import fs, linux, proc

logger = logging.getLogger(__name__)

MKSQUASHFS = "mksquashfs"
SQUASHFUSE = "squashfuse"
ROOTFS_DIR = "rootfs"
META_FILE = "image.json"
Identity = Tuple[int, int, int, int]  # st_dev, st_ino, st_ctime_ns, st_size: a replaced or changed file differs


def identity_of(info: os.stat_result) -> Identity:
    return (info.st_dev, info.st_ino, info.st_ctime_ns, info.st_size)


def mksquashfs_argv(sources: Sequence[str], out: str) -> List[str]:
    """Owners, modes and xattrs as they are seen (inside the namespace: in-container ids)."""
    # With several sources mksquashfs makes the root itself, 0777 unless told.
    return [MKSQUASHFS, *sources, out, "-noappend", "-no-progress", "-quiet", "-root-mode", "0755"]


def squashfuse_argv(image_file: str, mountpoint: str) -> List[str]:
    # allow_other: a container process of another id than the mounter's reaches the files through
    # the overlay (FUSE refuses every other uid by default); permissions are still the files' own.
    return [SQUASHFUSE, "-o", "allow_other", image_file, mountpoint]


@contextlib.contextmanager
def _fd_paths(dirs: Sequence[str]) -> Iterator[List[str]]:
    """/proc/self/fd/N names: many layers fit mount(2)'s one page (as overlay.py's fd_paths; drivers
    are imported by the factory alone)."""
    with contextlib.ExitStack() as stack:
        names = []
        for path in dirs:
            fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            stack.callback(os.close, fd)
            names.append(f"/proc/self/fd/{fd}")
        yield names


@contextlib.contextmanager
def flattened_view(lowers: Sequence[str], mountpoint: str, scratch: str) -> Iterator[str]:
    """The layers (lowest first) merged read-only at mountpoint: whiteouts and opaque dirs applied.

    Kernel overlay without an upper dir needs two lowers: an empty top one
    keeps it valid for one layer (or none), with the top layer's root mode
    and owner, since the merged root shows the top lower's. Hosts without it
    use fuse-overlayfs the same way.
    """
    with tempfile.TemporaryDirectory(prefix="flatten-", dir=scratch) as empty:
        os.chmod(empty, 0o755)  # FROM scratch: a usual root, not mkdtemp's 0700
        copy_root_attrs(lowers, empty)
        lowerdirs = [*([empty] if len(lowers) < 2 else []), *reversed(lowers)]
        try:
            with _fd_paths(lowerdirs) as names:
                linux.mount("overlay", mountpoint, "overlay", linux.MS_RDONLY,
                            f"lowerdir={':'.join(names)},userxattr")
        except OSError as exc:
            logger.debug("read-only overlay refused (%s): trying fuse-overlayfs", exc)
            _fuse_view(lowerdirs, mountpoint)
        try:
            yield mountpoint
        finally:
            detach(mountpoint)


def _fuse_view(lowerdirs: Sequence[str], mountpoint: str) -> None:
    if any(c in p for p in lowerdirs for c in ",:"):
        raise FailedPrecondition(f"flatten image: a layer path contains ',' or ':': {', '.join(lowerdirs)}")
    if proc.which("fuse-overlayfs") is None:
        raise FailedPrecondition("flatten image: the kernel refuses a read-only overlay and fuse-overlayfs "
                                 "is not installed", hint="apt-get install fuse-overlayfs")
    proc.run(["fuse-overlayfs", "-o", f"lowerdir={':'.join(lowerdirs)}", mountpoint],
             tool="fuse-overlayfs", timeout=60)


STAGING_PREFIX = "squashfs-"  # scratch/<this>*: an export's staging dir (rootfs/ mounted, image.json)
OUTPUT_PREFIX = "export-"  # scratch/<this>*.sqfs: an export's file before it is streamed


def remove_leftovers(scratch: str) -> None:
    """What a daemon killed mid-export left: staging dirs (their view unmounted first) and files."""
    if not os.path.isdir(scratch):
        return
    for name in os.listdir(scratch):
        path = os.path.join(scratch, name)
        if name.startswith(STAGING_PREFIX) and os.path.isdir(path):
            detach(os.path.join(path, ROOTFS_DIR))
            fs.remove_tree(path)
            logger.info("removed a killed export's staging dir %s", path)
        elif name.startswith(OUTPUT_PREFIX) and name.endswith(".sqfs"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def make_squashfs(lowers: Sequence[str], meta: bytes, out: str, scratch: str) -> None:
    """Write the squashfs file out (rootfs/ + image.json) from the unpacked layers; runs in the namespace."""
    fs.ensure_dir(scratch)
    with tempfile.TemporaryDirectory(prefix=STAGING_PREFIX, dir=scratch) as staging:
        rootfs = os.path.join(staging, ROOTFS_DIR)
        os.mkdir(rootfs, 0o755)
        meta_path = os.path.join(staging, META_FILE)
        fs.atomic_write(meta_path, meta, mode=0o644)
        with flattened_view(lowers, rootfs, staging):
            proc.run(mksquashfs_argv([rootfs, meta_path], out), tool=MKSQUASHFS, timeout=None)


def mounted_lowers(containers_dir: str) -> List[str]:
    """The lowers of every container rootfs under containers_dir mounted now (one mount table read)."""
    if not os.path.isdir(containers_dir):
        return []
    points = set(mount_points())
    lowers: List[str] = []
    for name in os.listdir(containers_dir):
        layout = RootfsLayout(os.path.join(containers_dir, name, "rootfs"))
        if layout.merged in points:
            with contextlib.suppress(RootlessError, OSError, LookupError, TypeError):
                lowers += read_lowers(layout)
    return lowers


@dataclass(frozen=True)
class MountRecord:
    """Which file a mount dir serves, and that file's identity when first mounted."""

    image_file: str
    identity: Identity


class SquashMounts:
    """squashfuse mounts of image files under base/<key>/, one per file version, shared by containers."""

    def __init__(self, base: str) -> None:
        self.base = base

    def key(self, image_file: str, identity: Identity) -> str:
        text = "\0".join([os.path.abspath(image_file), *map(str, identity)])
        return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]

    def lower_for(self, image_file: str, identity: Identity) -> str:
        """The rootfs dir of image_file mounted (mounting it if needed): a container's lower dir."""
        key = self.key(image_file, identity)
        fs.ensure_dir(self.base, 0o700)
        with fs.locked(os.path.join(self.base, ".lock")):
            record = os.path.join(self.base, f"{key}.json")
            if fs.read_json(record) is None:
                fs.atomic_write_json(record, {"file": os.path.abspath(image_file), "identity": list(identity)})
            self._mount(key)
        return os.path.join(self.base, key, ROOTFS_DIR)

    def forget(self, image_file: str) -> int:
        """Unmount image_file's mounts and drop their records (its image was removed and no container
        uses it: an unlinked file stays allocated while squashfuse holds it); returns how many."""
        path = os.path.abspath(image_file)
        if not os.path.isdir(self.base):
            return 0
        with fs.locked(os.path.join(self.base, ".lock")):
            keys = [name[:-5] for name in os.listdir(self.base) if name.endswith(".json")
                    and (fs.read_json(os.path.join(self.base, name)) or {}).get("file") == path]
            for key in keys:
                mountpoint = os.path.join(self.base, key)
                detach(mountpoint)
                with contextlib.suppress(OSError):
                    os.rmdir(mountpoint)
                os.unlink(mountpoint + ".json")
        return len(keys)

    def owns(self, lower: str) -> bool:
        return os.path.dirname(os.path.dirname(lower)) == self.base

    def keys_of(self, lowers: Iterable[str]) -> List[str]:
        return sorted({os.path.basename(os.path.dirname(lower)) for lower in lowers if self.owns(lower)})

    @contextlib.contextmanager
    def held(self, lowers: Sequence[str]) -> Iterator[None]:
        """The mounts lowers need, mounted, and none of them released until the block ends.

        The block makes or mounts a container's rootfs on them: release() takes
        the same lock, so it sees that rootfs mounted or mounts nothing away
        under it (a container starting while the last one on the file stops).
        """
        keys = self.keys_of(lowers)
        if not keys:
            yield
            return
        with fs.locked(os.path.join(self.base, ".lock")):
            for key in keys:
                self._mount(key)
            yield

    def release(self, lowers: Sequence[str], in_use: Callable[[], Iterable[str]]) -> int:
        """Unmount the mounts of lowers no container rootfs mounted now stacks; returns how many.

        in_use() lists the lowers of every mounted container rootfs; it runs
        under the lock, where no rootfs is being mounted on a squashfs image
        (held()). The records stay: a container's next start mounts again.
        """
        keys = self.keys_of(lowers)
        if not keys:
            return 0
        released = 0
        with fs.locked(os.path.join(self.base, ".lock")):
            used = set(self.keys_of(in_use()))
            for key in keys:
                mountpoint = os.path.join(self.base, key)
                if key not in used and is_mount_point(mountpoint):
                    detach(mountpoint)
                    released += 1
                    logger.debug("unmounted squashfs image at %s: no container uses it", mountpoint)
        return released

    def mounted_keys(self) -> List[str]:
        """Keys whose file is mounted now (for the sweep at start and for tests)."""
        if not os.path.isdir(self.base):
            return []
        return sorted(name[:-5] for name in os.listdir(self.base)
                      if name.endswith(".json") and is_mount_point(os.path.join(self.base, name[:-5])))

    def ensure_mounted(self, lowers: Sequence[str]) -> None:
        """Mount again what a container's lowers need (the namespace may have been made anew)."""
        for lower in lowers:
            if self.owns(lower):
                with fs.locked(os.path.join(self.base, ".lock")):
                    self._mount(os.path.basename(os.path.dirname(lower)))

    def _mount(self, key: str) -> None:
        mountpoint = os.path.join(self.base, key)
        if is_mount_point(mountpoint):
            if not is_stale_mount(mountpoint):
                return
            detach(mountpoint)
        data = fs.read_json(os.path.join(self.base, f"{key}.json"))
        if data is None:
            raise FailedPrecondition(f"mount squashfs image: {mountpoint}: no record of its file")
        dev, ino, ctime_ns, size = (int(n) for n in data["identity"])
        record = MountRecord(str(data["file"]), (dev, ino, ctime_ns, size))
        self._check_unchanged(record)
        fs.ensure_dir(mountpoint, 0o700)
        proc.run(squashfuse_argv(record.image_file, mountpoint), tool=SQUASHFUSE, timeout=60)
        logger.debug("mounted squashfs image %s at %s", record.image_file, mountpoint)

    @staticmethod
    def _check_unchanged(record: MountRecord) -> None:
        """A file replaced since a container was made from it would change the container's files."""
        try:
            now = identity_of(os.stat(record.image_file))
        except OSError as exc:
            raise FailedPrecondition(f"mount squashfs image: {record.image_file}: {exc.strerror}",
                                     hint="the image file was removed; remove the containers made from it") from None
        if now != record.identity:
            raise FailedPrecondition(f"mount squashfs image: {record.image_file}: changed since containers "
                                     "were made from it", hint="remove those containers and create them again")
