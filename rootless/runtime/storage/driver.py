"""The StorageDriver protocol: how a container gets its root filesystem.

Vocabulary from containerd's snapshotter (core/snapshots/snapshotter.go):
*lowers* are the read-only layer diff dirs of the image, LOWEST FIRST, as
images/layer_tar.py unpacks them (overlayfs format: a deleted path is a 0/0
character device, an opaque dir carries the xattr user.overlay.opaque=y).
The *upper* dir holds the container's own changes, and *merged* is the view
crun uses as the rootfs.

Lifecycle (every call is idempotent, and all of them run inside the engine's
user + mount namespace, so mounts outlive a daemon restart)::

    driver = get_driver("overlay", paths)   # factory.py
    driver.create(cid, lowers)     # dirs + rootfs/lowers.json; vfs copies here
    rootfs = driver.mount(cid)     # -> <container_dir>/rootfs/merged
    ...                            # crun runs with rootfs
    driver.unmount(cid)            # container stopped; upper stays
    driver.upper_dir(cid)          # the changes, for commit / export / diff
    driver.remove(cid)             # unmount and delete every dir

Per-container layout under paths.container_dir(cid)/rootfs/: lowers.json
({"driver": name, "lowers": [...]}, "volatile": true for a --rm container),
upper/, work/, merged/ (container_lock locks the dir itself; a `lock` file there is an older
version's, or NFS's, where a dir can't be locked).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import shutil
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Protocol, Sequence, Tuple

from rootless.config.paths import Paths
from rootless.errors import FailedPrecondition, InvalidArgument, NotFound
from rootless.util import fs, linux

logger = logging.getLogger(__name__)

OVERLAY, FUSE_OVERLAYFS, VFS = "overlay", "fuse-overlayfs", "vfs"
DRIVER_NAMES = (OVERLAY, FUSE_OVERLAYFS, VFS)
MOUNTINFO = "/proc/self/mountinfo"
# In lowers.json of a container created with durable=False (docker run --rm): nothing of
# it outlives a crash, so kernel overlay mounts its rootfs with "volatile" (no sync at
# all: the unmount no longer syncs the whole upper filesystem, 2-5 ms of every `run
# --rm` here, more while others write), as podman does for --rm since 3.2.
RECORD_VOLATILE = "volatile"


class StorageDriver(Protocol):
    """Prepares, mounts and removes container root filesystems (see module doc)."""

    name: str

    def create(self, container_id: str, lowers: Sequence[str], durable: bool = True) -> None:
        """Make the container's dirs for these lowers (lowest first); idempotent.

        durable=False: lowers.json without fsync, for a container whose record has none
        either (docker run --rm): after a power cut it may read as not created. Its
        rootfs is also recorded as volatile (see RECORD_VOLATILE).
        """

    def mount(self, container_id: str) -> str:
        """Mount the rootfs (if not mounted yet) and return its path."""

    def unmount(self, container_id: str) -> None:
        """Unmount the rootfs; no-op when it is not mounted."""

    def remove(self, container_id: str) -> None:
        """Unmount and delete every dir of the container; no-op when gone."""

    def upper_dir(self, container_id: str) -> str:
        """The container's changes in overlayfs format (whiteouts, opaque xattrs)."""

    def is_mounted(self, container_id: str) -> bool:
        """Whether mount() has made the rootfs available."""


@dataclass(frozen=True)
class RootfsLayout:
    """Where one container's driver data lives."""

    base: str

    @classmethod
    def of(cls, paths: Paths, container_id: str) -> "RootfsLayout":
        if not container_id or "/" in container_id or container_id.startswith("."):
            raise InvalidArgument(f"invalid container id: {container_id!r}")
        return cls(os.path.join(paths.container_dir(container_id), "rootfs"))

    @property
    def upper(self) -> str:
        return os.path.join(self.base, "upper")

    @property
    def work(self) -> str:
        return os.path.join(self.base, "work")

    @property
    def merged(self) -> str:
        return os.path.join(self.base, "merged")

    @property
    def record(self) -> str:
        return os.path.join(self.base, "lowers.json")

    def exists(self) -> bool:
        return os.path.exists(self.record)


def _read_record(layout: RootfsLayout) -> Optional[Dict[str, Any]]:
    """lowers.json, or None when missing or not whole (only one written without fsync can be
    torn, by a power cut: its container was a --rm one, whose record was not synced either)."""
    path = layout.record
    try:
        identity = fs.stat_identity(os.stat(path))
    except FileNotFoundError:
        _SEEN.pop(path, None)
        return None
    seen = _SEEN.get(path)
    if seen is not None and seen[0] == identity:
        return _copy(seen[1])
    try:
        record = fs.read_json(path)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    _remember(path, identity, record)
    return _copy(record)


# lowers.json as this process last wrote or read it, by path, with the (inode, size, mtime, ctime) it
# had then: a start reads it twice (driver_of, mount) right after the create wrote it, and a stat says
# whether the file is still that one. Unlike the network records (networks/store.py), it is never
# edited in place: write_record makes it once, by a rename (a new inode), and nothing else writes it.
_SEEN: Dict[str, Tuple[Tuple[int, int, int, int], Dict[str, Any]]] = {}
_SEEN_MAX = 512


def _remember(path: str, identity: Tuple[int, int, int, int], record: Dict[str, Any]) -> None:
    if len(_SEEN) >= _SEEN_MAX:  # containers removed without remove_tree (their dir went to the trash)
        _SEEN.clear()
    _SEEN[path] = (identity, _copy(record))


def _copy(record: Dict[str, Any]) -> Dict[str, Any]:
    """Callers get their own lists: the record's values are strings, booleans and lists of strings."""
    return {key: list(value) if isinstance(value, list) else value for key, value in record.items()}


def write_record(layout: RootfsLayout, driver: str, lowers: Sequence[str], durable: bool = True) -> None:
    """Remember the driver and lowers, refusing to change them for a container."""
    for lower in lowers:
        if not os.path.isabs(lower):
            raise InvalidArgument(f"create rootfs: lower dir must be absolute: {lower}")
        if not os.path.isdir(lower):
            raise NotFound(f"create rootfs: {lower}: no such layer dir")
    old = _read_record(layout)
    new: Dict[str, Any] = {"driver": driver, "lowers": list(lowers)}
    if old is not None and {key: old.get(key) for key in new} != new:
        raise FailedPrecondition(
            f"create rootfs: {layout.base}: exists with other lowers or driver {old.get('driver')}"
        )
    if old is None:
        if not os.path.isdir(layout.base):  # called without container_lock, which makes it
            fs.make_dir(layout.base)
        if not durable:
            new[RECORD_VOLATILE] = True
        fs.atomic_write_json(layout.record, new, durable=durable)
        _remember(layout.record, fs.stat_identity(os.stat(layout.record)), new)  # the start reads it: no read back


LOCK_FILE = "lock"  # where the dir itself can't be locked (NFS)


def stored_record(layout: RootfsLayout) -> Optional[Dict[str, Any]]:
    """lowers.json ({"driver", "lowers", ...}), or None when the rootfs was not created (or the record is torn)."""
    return _read_record(layout)


def read_record(layout: RootfsLayout) -> Dict[str, Any]:
    record = _read_record(layout)
    if record is None:
        raise NotFound(f"mount rootfs: {layout.base}: not created")
    return record


def read_lowers(layout: RootfsLayout) -> List[str]:
    return list(read_record(layout)["lowers"])


@contextlib.contextmanager
def container_lock(layout: RootfsLayout) -> Iterator[None]:
    """Serialise create/mount/unmount/remove of one container: an flock on its base dir itself
    (a lock file was one more inode made and deleted per container; a dir's fd locks as well)."""
    fs.make_dir(layout.base)
    fd = _locked_fd(layout)
    try:
        yield
    finally:
        os.close(fd)


def _locked_fd(layout: RootfsLayout) -> int:
    """An fd holding the lock: the dir's, or on NFS (where flock is a POSIX lock, which needs a
    file open for writing: EBADF on a dir) a lock file's, as every container there gets then."""
    fd = os.open(layout.base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd
    except OSError as exc:
        os.close(fd)
        if exc.errno != errno.EBADF:
            raise
    except BaseException:
        os.close(fd)
        raise
    fd = os.open(os.path.join(layout.base, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def copy_root_attrs(lowers: Sequence[str], upper: str) -> None:
    """Give the upper dir the top layer's root mode and owner: the merged root shows them."""
    if not lowers:
        return
    info = os.stat(lowers[-1])
    os.chmod(upper, info.st_mode & 0o7777)
    with contextlib.suppress(PermissionError, OSError):
        os.chown(upper, info.st_uid, info.st_gid)


def make_dirs(layout: RootfsLayout, lowers: Sequence[str], with_work: bool = True) -> None:
    """upper/ (and work/) and merged/; upper gets the top layer's root attributes.

    One mkdir(2) each (fs.make_dir), in order under the base dir container_lock made; the
    modes are set explicitly, as mkdir's is cut by the umask.
    """
    if fs.make_dir(layout.upper, 0o755):
        os.chmod(layout.upper, 0o755)
        copy_root_attrs(lowers, layout.upper)
    if with_work:
        fs.make_dir(layout.work, 0o700)
    if fs.make_dir(layout.merged, 0o755):
        os.chmod(layout.merged, 0o755)


def dirs_exist(layout: RootfsLayout, with_work: bool = True) -> bool:
    """Whether make_dirs would make nothing."""
    return (os.path.isdir(layout.upper) and os.path.isdir(layout.merged)
            and (not with_work or os.path.isdir(layout.work)))


# -- mount table -----------------------------------------------------------

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def unescape_mountinfo(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo octal."""
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mount_points(text: str) -> List[str]:
    """Mount points listed in a /proc/PID/mountinfo text (field 5)."""
    points = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            points.append(unescape_mountinfo(fields[4]))
    return points


def mount_points(mountinfo: str = MOUNTINFO) -> List[str]:
    """Every mount point the mount table lists (unescaped), in its order."""
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
        return parse_mount_points(f.read())


def is_mount_point(path: str, mountinfo: Optional[str] = None) -> bool:
    """Whether path is listed as a mount point in mountinfo (default: ours, once statx(2) could not
    rule that out: a start's unmounted rootfs costs one syscall, not a read of the mount table)."""
    if mountinfo is None:
        if linux.is_mount_root(path) is False:
            return False
        mountinfo = MOUNTINFO
    return os.path.abspath(path) in mount_points(mountinfo)


def is_stale_mount(path: str) -> bool:
    """A FUSE mount whose helper died answers ENOTCONN: it must be unmounted first."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno in (errno.ENOTCONN, errno.EIO)
    return False


def detach(path: str) -> None:
    """Unmount every mount stacked on path (lazily: a container may still hold files)."""
    while is_mount_point(path):
        try:
            linux.umount(path, linux.MNT_DETACH)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                return
            raise
        logger.debug("unmounted %s", path)


def remove_tree(layout: RootfsLayout) -> None:
    """Delete the container's rootfs dirs; refuse while anything is still mounted."""
    if is_mount_point(layout.merged):
        raise FailedPrecondition(f"remove rootfs: {layout.merged}: still mounted")
    _SEEN.pop(layout.record, None)
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(layout.base)


class DriverBase:
    """What every driver shares: its store, the per-container layout, removal."""

    name = ""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths

    def layout(self, container_id: str) -> RootfsLayout:
        return RootfsLayout.of(self.paths, container_id)

    def release(self, layout: RootfsLayout) -> None:
        """Undo whatever mount() did, before the dirs go (lock held)."""

    def unmount(self, container_id: str) -> None:
        layout = self.layout(container_id)
        if not os.path.isdir(layout.base):
            return
        with container_lock(layout):
            self.release(layout)

    def remove(self, container_id: str) -> None:
        layout = self.layout(container_id)
        if not os.path.isdir(layout.base):
            return
        with container_lock(layout):
            self.release(layout)
            remove_tree(layout)


def lowerdir_paths(lowers: Sequence[str], empty_dir: str) -> List[str]:
    """overlay's lowerdir order is top first; we keep lowest first. Needs at least one: empty_dir
    when there are none (the callers make that dir only then: one mkdir, and one unlink at the
    removal, fewer for every other container)."""
    return list(reversed(lowers)) or [empty_dir]


class MountingDriver(DriverBase):
    """What kernel overlay and fuse-overlayfs share: dirs, lock, mount table checks."""

    needs_work_dir = True

    def create(self, container_id: str, lowers: Sequence[str], durable: bool = True) -> None:
        layout = self.layout(container_id)
        with container_lock(layout):
            write_record(layout, self.name, lowers, durable)
            make_dirs(layout, lowers, self.needs_work_dir)

    def mount(self, container_id: str) -> str:
        layout = self.layout(container_id)
        with container_lock(layout):
            if is_mount_point(layout.merged):
                if not is_stale_mount(layout.merged):
                    return layout.merged
                logger.warning("rootfs of %s: helper gone, mounting again", container_id)
                detach(layout.merged)
            record = read_record(layout)
            lowers = list(record["lowers"])
            if not dirs_exist(layout, self.needs_work_dir):  # made at create: mkdir's EEXIST saved
                make_dirs(layout, lowers, self.needs_work_dir)
            self.mount_layers(layout, lowers, volatile=record.get(RECORD_VOLATILE) is True)
        return layout.merged

    def mount_layers(self, layout: RootfsLayout, lowers: Sequence[str], volatile: bool = False) -> None:
        """volatile: the container's files need not survive a crash (a driver may then skip syncs)."""
        raise NotImplementedError

    @staticmethod
    def empty_dir(layout: RootfsLayout) -> str:
        """A lower for an image without layers (FROM scratch): overlay needs one."""
        path = os.path.join(layout.base, "empty")
        os.makedirs(path, mode=0o755, exist_ok=True)
        os.chmod(path, 0o755)  # the container's / for FROM scratch: not the umask's say
        return path

    def release(self, layout: RootfsLayout) -> None:
        detach(layout.merged)

    def upper_dir(self, container_id: str) -> str:
        layout = self.layout(container_id)
        if not os.path.isdir(layout.upper):
            raise NotFound(f"get changes: container {container_id}: no rootfs")
        return layout.upper

    def is_mounted(self, container_id: str) -> bool:
        merged = self.layout(container_id).merged
        return is_mount_point(merged) and not is_stale_mount(merged)


IDMAP_FILE = "idmap.json"  # in the layout's base: the container's ids are shifted (--userns=keep-id)
IdTriples = Sequence[Sequence[int]]


def write_idmap(layout: RootfsLayout, uids: IdTriples, gids: IdTriples) -> None:
    """Show the files' stored ids d as f(d): triples (stored id, shown id, count); fuse-overlayfs only."""
    fs.ensure_dir(layout.base)
    fs.atomic_write_json(os.path.join(layout.base, IDMAP_FILE),
                         {"uids": [list(m) for m in uids], "gids": [list(m) for m in gids]})


def read_idmap(layout: RootfsLayout) -> Optional[Dict[str, List[List[int]]]]:
    record = fs.read_json(os.path.join(layout.base, IDMAP_FILE))
    return None if not record else {"uids": record["uids"], "gids": record["gids"]}


def driver_of(paths: Paths, container_id: str) -> Optional[str]:
    """The driver a container's rootfs was created with, or None."""
    record = _read_record(RootfsLayout.of(paths, container_id))
    return None if record is None else str(record.get("driver"))
