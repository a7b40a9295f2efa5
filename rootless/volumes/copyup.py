"""Copy-up: a new volume mounted over a non-empty image directory starts as a copy of it.

Docker (moby container.CopyImagePathContent, continuity's fs.CopyDir) and
podman (NeedsCopyUp) fill a new volume from the directory it is mounted over,
keeping owners, modes, times, symlinks, hard links and xattrs; the volume's
top directory takes the image directory's owner and mode. Owners are copied as
the store holds them (the engine's namespace ids), so the container sees the
image's owners whatever its own id mapping.

The rootfs is hostile: it is read through util/confined.py only. The image
directory is found with RESOLVE_IN_ROOT (its symlinks resolve inside the
rootfs, as docker's scoped lookup does) and everything below it is opened one
component at a time, never through a symlink, so a link (or a rename racing
us) can make the copy neither read nor write outside.

Crash-safe: the copy is built in a staging dir next to _data and renamed over
the empty _data at the end. A SIGKILL before the rename leaves _data empty and
the volume still new, so the next start copies again (the stale staging dir
is removed first); after it, _data is full and is never copied into again.
"""
from __future__ import annotations

import errno
import logging
import os
import stat
import tempfile
from typing import Dict, Tuple

from rootless.images.crashpoint import crash_point
from rootless.util import fs
from rootless.util.confined import Root, closing, lstat_child, open_child
from rootless.util.fs import remove_tree

logger = logging.getLogger(__name__)

STAGING_PREFIX = ".copyup-"
CHUNK = 1 << 20
# overlayfs's own bookkeeping, never the image's content
PRIVATE_XATTRS = ("user.overlay.", "trusted.overlay.")
Links = Dict[Tuple[int, int], str]  # (st_dev, st_ino) of a source file -> its copy's path in staging


def copy_up(rootfs: str, path: str, data: str) -> bool:
    """Fill the empty dir data with rootfs's directory path; False when there is nothing to copy.

    Nothing happens when data is not empty or path is not a directory in the rootfs.
    """
    volume_dir = os.path.dirname(data)
    remove_stale_staging(volume_dir)
    if os.listdir(data):
        return False
    with Root(rootfs) as root:
        try:
            source = root.open_dir(path)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return False
            raise
    with closing(source):
        staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=volume_dir)
        try:
            with closing(os.open(staging, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)) as target:
                _copy_dir(source, target, {}, "", target)
                _finish_dir(source, target)
            crash_point("volume-copyup:before-rename")
            os.rename(staging, data)  # data is an empty directory: rename(2) replaces it atomically
        except BaseException:
            remove_tree(staging)
            raise
    fs.fsync_dir(volume_dir)
    return True


def remove_stale_staging(volume_dir: str) -> None:
    """What a copy-up killed before its rename left behind."""
    for name in os.listdir(volume_dir):
        if name.startswith(STAGING_PREFIX):
            logger.warning("removing an interrupted copy-up in %s", volume_dir)
            remove_tree(os.path.join(volume_dir, name))


def _copy_dir(source: int, target: int, links: Links, prefix: str, top: int) -> None:
    """Copy the entries of the directory source into target (both dirfds), depth first."""
    for name in sorted(os.listdir(source)):
        try:
            info = lstat_child(source, name)
        except FileNotFoundError:
            continue
        kind = stat.S_IFMT(info.st_mode)
        if kind == stat.S_IFDIR:
            _copy_subdir(source, target, name, links, prefix, top)
        elif kind == stat.S_IFREG:
            _copy_file(source, target, name, links, prefix + name, top)
        elif kind == stat.S_IFLNK:
            os.symlink(os.readlink(name, dir_fd=source), name, dir_fd=target)
            _own_link(target, name, info)
        elif kind == stat.S_IFIFO:
            os.mkfifo(name, 0o600, dir_fd=target)
            with closing(open_child(target, name, os.O_PATH)) as fd:
                _set_meta(fd, info, by_path=True)
        else:  # device nodes can't be made in a user namespace; a socket means nothing copied
            logger.info("copy-up: skipping %s%s (%s)", prefix, name, stat.filemode(info.st_mode))


def _copy_subdir(source: int, target: int, name: str, links: Links, prefix: str, top: int) -> None:
    try:
        child = open_child(source, name, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return  # swapped for something else since the lstat: not followed
        raise
    with closing(child):
        os.mkdir(name, 0o700, dir_fd=target)
        with closing(open_child(target, name, os.O_RDONLY | os.O_DIRECTORY)) as made:
            _copy_dir(child, made, links, f"{prefix}{name}/", top)
            _finish_dir(child, made)


def _finish_dir(source: int, made: int) -> None:
    """A directory's metadata, once its entries are in (its mode may forbid writing, its mtime changes)."""
    _set_meta(made, os.fstat(source), by_path=False)
    _copy_xattrs(source, made)


def _copy_file(source: int, target: int, name: str, links: Links, rel: str, top: int) -> None:
    try:
        fd = open_child(source, name, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENXIO):
            return
        raise
    with closing(fd):
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return  # swapped since the lstat
        key = (info.st_dev, info.st_ino)
        if info.st_nlink > 1 and key in links:
            os.link(links[key], name, src_dir_fd=top, dst_dir_fd=target, follow_symlinks=False)
            return
        with closing(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o600, dir_fd=target)) as out:
            _copy_data(fd, out)
            crash_point("volume-copyup:mid-copy")  # the tests' SIGKILL with the copy half done
            _set_meta(out, info, by_path=False)
            _copy_xattrs(fd, out)
        if info.st_nlink > 1:
            links[key] = rel


def _copy_data(source: int, target: int) -> None:
    while True:
        try:
            done = os.copy_file_range(source, target, CHUNK)
        except (OSError, AttributeError):  # another filesystem on an older kernel; Python < 3.8
            chunk = os.read(source, CHUNK)
            done = len(chunk)
            fs.write_all(target, chunk)
        if done == 0:
            return


def _set_meta(fd: int, info: os.stat_result, by_path: bool) -> None:
    """Owner, then mode (a chown clears set-id bits), then times, on an fd of the copy."""
    target = f"/proc/self/fd/{fd}" if by_path else fd
    try:
        os.chown(target, info.st_uid, info.st_gid)
    except OSError as exc:  # an id the namespace does not map: keep ours rather than fail the start
        logger.warning("copy-up: can't keep owner %d:%d: %s", info.st_uid, info.st_gid, exc.strerror)
    os.chmod(target, stat.S_IMODE(info.st_mode))
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))


def _own_link(target: int, name: str, info: os.stat_result) -> None:
    try:
        os.chown(name, info.st_uid, info.st_gid, dir_fd=target, follow_symlinks=False)
    except OSError as exc:
        logger.warning("copy-up: can't keep owner %d:%d: %s", info.st_uid, info.st_gid, exc.strerror)
    os.utime(name, ns=(info.st_atime_ns, info.st_mtime_ns), dir_fd=target, follow_symlinks=False)


def _copy_xattrs(source: int, target: int) -> None:
    """Extended attributes where the namespace lets us set them (user.*, security.capability)."""
    try:
        names = os.listxattr(source)
    except OSError:
        return  # a filesystem without xattrs
    for name in names:
        if name.startswith(PRIVATE_XATTRS):
            continue
        try:
            os.setxattr(target, name, os.getxattr(source, name))
        except OSError as exc:
            logger.debug("copy-up: xattr %s not kept: %s", name, exc.strerror)
