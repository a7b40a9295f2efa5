"""The copy driver: no mount at all, for hosts with neither overlay nor FUSE.

create() copies the layer diff dirs in order into merged/, applying their
whiteouts (delete the path) and opaque dirs (clear what lower layers put
there), as containers/storage's vfs driver does. Changes are not kept apart,
so upper_dir() computes them: it compares merged/ with the lowers and writes
the difference into upper/ in overlayfs format (containers/storage
NaiveDiffDriver works the same way).
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
from typing import Dict, List, Optional, Sequence, Set, Tuple

from rootless.errors import NotFound
from rootless.runtime.storage import whiteouts
from rootless.runtime.storage.driver import (
    VFS,
    DriverBase,
    container_lock,
    read_lowers,
    write_record,
)
from rootless.util import confined

logger = logging.getLogger(__name__)

InodeKey = Tuple[int, int]


# -- copying one entry with its metadata ------------------------------------

def remove_path(path: str) -> None:
    """Delete whatever is at path (a dir with its content); no-op when absent."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def copy_xattrs(src: str, dst: str) -> None:
    """Copy xattrs (capabilities, ACLs, user.*) but not the drivers' own markers."""
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError:
        return
    for name in names:
        if whiteouts.is_private_xattr(name):
            continue
        with contextlib.suppress(OSError):
            value = os.getxattr(src, name, follow_symlinks=False)
            os.setxattr(dst, name, value, follow_symlinks=False)


def copy_metadata(src: str, dst: str, info: os.stat_result, times: bool = True) -> None:
    """Owner, then mode (chown clears setuid), xattrs and times of src onto dst."""
    try:
        os.lchown(dst, info.st_uid, info.st_gid)
    except OSError as exc:
        # Single-uid mode: ids above 0 are unmapped; keep ours, as images/layer_tar.py does.
        if exc.errno not in (errno.EPERM, errno.EINVAL):
            raise
    if not stat.S_ISLNK(info.st_mode):
        os.chmod(dst, stat.S_IMODE(info.st_mode))
    copy_xattrs(src, dst)
    if times:
        os.utime(dst, ns=(info.st_atime_ns, info.st_mtime_ns), follow_symlinks=False)


def copy_entry(src: str, dst: str, info: os.stat_result, links: Dict[InodeKey, str],
               source_fd: Optional[int] = None) -> None:
    """Copy one non-dir entry; hard links inside one source stay hard links.

    source_fd: a regular file already opened safely (a container's merged dir), read instead of src.
    """
    key = (info.st_dev, info.st_ino)
    if stat.S_ISREG(info.st_mode) and info.st_nlink > 1 and key in links:
        os.link(links[key], dst)
        return
    mode = info.st_mode
    if stat.S_ISREG(mode) and source_fd is not None:
        with open(dst, "xb") as out, os.fdopen(os.dup(source_fd), "rb") as data:
            shutil.copyfileobj(data, out)
        links[key] = dst
    elif stat.S_ISREG(mode):
        shutil.copyfile(src, dst, follow_symlinks=False)
        links[key] = dst
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISFIFO(mode):
        os.mkfifo(dst, 0o600)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        try:
            os.mknod(dst, mode, info.st_rdev)
        except PermissionError:
            logger.warning("skipping device %s: mknod not allowed in a user namespace", dst)
            return
    else:
        logger.debug("skipping socket %s", src)
        return
    copy_metadata(src, dst, info)


class TreeCopy:
    """One copy pass: remembers hard links and sets dir times after the content."""

    def __init__(self) -> None:
        self.links: Dict[InodeKey, str] = {}
        self.dirs: List[Tuple[str, str, os.stat_result]] = []

    def make_dir(self, src: str, dst: str, info: os.stat_result) -> None:
        if not os.path.isdir(dst) or os.path.islink(dst):
            remove_path(dst)
            os.mkdir(dst, 0o700)
        copy_metadata(src, dst, info, times=False)
        self.dirs.append((src, dst, info))

    def finish(self) -> None:
        for _, dst, info in reversed(self.dirs):
            os.utime(dst, ns=(info.st_atime_ns, info.st_mtime_ns), follow_symlinks=False)


# -- applying layers --------------------------------------------------------

def apply_layer(layer: str, target: str) -> None:
    """Copy a layer diff dir onto target, honouring its whiteouts and opaque dirs."""
    copy = TreeCopy()
    copy.make_dir(layer, target, os.lstat(layer))
    _apply_children(layer, target, copy)
    copy.finish()


def _apply_children(src_dir: str, dst_dir: str, copy: TreeCopy) -> None:
    with os.scandir(src_dir) as entries:
        for entry in entries:
            if whiteouts.is_internal_name(entry.name):
                continue
            dst = os.path.join(dst_dir, entry.name)
            info = entry.stat(follow_symlinks=False)
            if whiteouts.is_whiteout(info):
                remove_path(dst)
            elif stat.S_ISDIR(info.st_mode):
                if whiteouts.is_opaque_dir(entry.path):
                    remove_path(dst)
                copy.make_dir(entry.path, dst, info)
                _apply_children(entry.path, dst, copy)
            else:
                remove_path(dst)
                copy_entry(entry.path, dst, info, copy.links)


def populate(target: str, lowers: Sequence[str]) -> None:
    """Build target from the layers, in a temp dir renamed at the end (crash-safe)."""
    building = target + ".partial"
    remove_path(building)
    os.mkdir(building)
    os.chmod(building, 0o755)  # explicit: mkdir's mode is cut by the umask
    for layer in lowers:
        apply_layer(layer, building)
    os.rename(building, target)


# -- computing changes ------------------------------------------------------

LowerIndex = Dict[str, Tuple[str, os.stat_result]]


def index_lowers(lowers: Sequence[str]) -> LowerIndex:
    """relpath -> (real path, stat) of what the layers together show."""
    index: LowerIndex = {}
    for layer in lowers:
        for root, dirs, files in os.walk(layer):
            rel_root = os.path.relpath(root, layer)
            for name in dirs + files:
                if whiteouts.is_internal_name(name):
                    continue
                _index_entry(index, layer, os.path.normpath(os.path.join(rel_root, name)))
    return index


def _index_entry(index: LowerIndex, layer: str, rel: str) -> None:
    path = os.path.join(layer, rel)
    info = os.lstat(path)
    hidden = stat.S_ISDIR(info.st_mode) and whiteouts.is_opaque_dir(path)
    if whiteouts.is_whiteout(info) or hidden or rel in index and not stat.S_ISDIR(info.st_mode):
        prefix = rel + os.sep
        for key in [k for k in index if k.startswith(prefix)]:
            del index[key]
    if whiteouts.is_whiteout(info):
        index.pop(rel, None)
    else:
        index[rel] = (path, info)


def is_same_entry(a: os.stat_result, b: os.stat_result, a_path: str, b_path: str) -> bool:
    """Same type, owner, mode and (for non-dirs) size and mtime; symlinks by target."""
    if stat.S_IFMT(a.st_mode) != stat.S_IFMT(b.st_mode):
        return False
    if (a.st_mode, a.st_uid, a.st_gid) != (b.st_mode, b.st_uid, b.st_gid):
        return False
    if stat.S_ISLNK(a.st_mode):
        return os.readlink(a_path) == os.readlink(b_path)
    if stat.S_ISDIR(a.st_mode):
        return True
    return (a.st_size, a.st_mtime_ns, a.st_rdev) == (b.st_size, b.st_mtime_ns, b.st_rdev)


class ChangeWriter:
    """Writes merged-vs-lowers differences into an upper dir in overlayfs format.

    merged is a running container's root: it is read through util/confined
    (walked by fds, files opened with no symlink on the way), so a directory
    swapped for a symlink can't make us copy a host file into upper/.
    """

    def __init__(self, merged: str, upper: str, index: LowerIndex, root: confined.Root) -> None:
        self.merged, self.upper, self.index, self.root = merged, upper, index, root
        self.copy = TreeCopy()
        self.present: Set[str] = set()

    def ensure_parent(self, rel: str) -> None:
        parent = os.path.dirname(rel)
        if parent and not os.path.isdir(os.path.join(self.upper, parent)):
            self.ensure_parent(parent)
            src = os.path.join(self.merged, parent)
            self.copy.make_dir(src, os.path.join(self.upper, parent), self.root.lstat(parent))

    def visit(self, rel: str, info: os.stat_result) -> None:
        self.present.add(rel)
        src = os.path.join(self.merged, rel)
        lower = self.index.get(rel)
        if lower is not None and is_same_entry(info, lower[1], src, lower[0]):
            return
        self.ensure_parent(rel)
        dst = os.path.join(self.upper, rel)
        if stat.S_ISDIR(info.st_mode):
            self.copy.make_dir(src, dst, info)
            if lower is not None and not stat.S_ISDIR(lower[1].st_mode):
                whiteouts.mark_opaque(dst)
        elif stat.S_ISREG(info.st_mode):
            self._copy_file(rel, src, dst, info)
        else:
            copy_entry(src, dst, info, self.copy.links)

    def _copy_file(self, rel: str, src: str, dst: str, info: os.stat_result) -> None:
        try:
            fd = self.root.open(rel, os.O_RDONLY | os.O_NONBLOCK, follow=False)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return  # renamed away (or a symlink now on its path) since the walk listed it
            raise
        with confined.closing(fd):
            opened = os.fstat(fd)
            if (opened.st_dev, opened.st_ino) == (info.st_dev, info.st_ino):
                copy_entry(src, dst, info, self.copy.links, source_fd=fd)

    def write_deletions(self) -> None:
        """A whiteout for each lower path gone from merged whose parent is still there."""
        for rel in sorted(self.index):
            parent = os.path.dirname(rel)
            if rel in self.present or (parent and parent not in self.present):
                continue
            try:
                parent_info = self.root.lstat(parent or "/")
            except OSError:
                continue  # the parent went (or became a symlink) meanwhile
            if parent and not stat.S_ISDIR(parent_info.st_mode):
                continue
            self.ensure_parent(rel)
            whiteouts.make_whiteout(os.path.join(self.upper, rel))


def write_changes(merged: str, lowers: Sequence[str], upper: str) -> None:
    """Recompute upper from scratch: what merged has that the lowers do not."""
    remove_path(upper)
    os.mkdir(upper, 0o755)
    with confined.Root(merged, symlinks=False) as root, confined.closing(root.open_dir("/")) as top:
        writer = ChangeWriter(merged, upper, index_lowers(lowers), root)
        for rel, info in confined.walk(top):
            writer.visit(rel, info)
        writer.write_deletions()
        copy_metadata(merged, upper, os.fstat(top), times=False)
    writer.copy.finish()


class VfsDriver(DriverBase):
    """Copies layers into a plain dir; 'mounted' means the copy is complete.

    unmount() is a no-op (DriverBase.release): the copy stays until remove().
    """

    name = VFS

    def create(self, container_id: str, lowers: Sequence[str], durable: bool = True) -> None:
        layout = self.layout(container_id)
        with container_lock(layout):
            write_record(layout, self.name, lowers, durable)
            if not os.path.isdir(layout.merged):
                populate(layout.merged, lowers)

    def mount(self, container_id: str) -> str:
        layout = self.layout(container_id)
        with container_lock(layout):
            # A crash during create leaves no merged/: finish the copy now.
            if not os.path.isdir(layout.merged):
                populate(layout.merged, read_lowers(layout))
        return layout.merged

    def upper_dir(self, container_id: str) -> str:
        layout = self.layout(container_id)
        with container_lock(layout):
            if not os.path.isdir(layout.merged):
                raise NotFound(f"get changes: container {container_id}: no rootfs")
            write_changes(layout.merged, read_lowers(layout), layout.upper)
        return layout.upper

    def is_mounted(self, container_id: str) -> bool:
        return os.path.isdir(self.layout(container_id).merged)


def changed_paths(upper: str) -> Optional[List[str]]:
    """Relative paths in an upper dir, sorted (a debugging and test aid)."""
    if not os.path.isdir(upper):
        return None
    found = []
    for root, dirs, files in os.walk(upper):
        for name in dirs + files:
            found.append(os.path.relpath(os.path.join(root, name), upper))
    return sorted(found)
