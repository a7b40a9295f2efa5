"""Confined access to a directory tree whose contents are hostile (a container's rootfs).

Every path is resolved by the kernel with openat2(2) RESOLVE_IN_ROOT: symlinks,
absolute or relative, and ".." are resolved as if the tree's top were "/", so
nothing the container does in between two of our calls (a rename, a symlink
swapped in) can make a lookup leave the tree; RESOLVE_NO_MAGICLINKS refuses
/proc/<pid>/root-style links. The last component of a path we create, chmod or
chown is handled relative to a dirfd of its parent with *at calls that never
follow a symlink there. runc (securejoin/pathrs) and crun (openat2) do the same
after CVE-2018-15664 (the docker cp symlink race).

Functions raise OSError (errno kept) so callers can say what failed in their terms;
FailedPrecondition when the kernel has no openat2 (before Linux 5.6).
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import posixpath
import stat
from typing import Iterator, List, Optional, Tuple

from rootless.errors import FailedPrecondition

SYS_OPENAT2 = 437  # the same number on x86_64 and aarch64 (both use the generic table for it)
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
# One component below a dirfd: no symlink anywhere (a final one only as an O_PATH|O_NOFOLLOW fd).
CHILD = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
RETRIES = 64  # openat2 says EAGAIN when a concurrent rename made ".." unprovable; it asks for a retry
DIR_PATH = os.O_PATH | os.O_DIRECTORY
MAX_SYMLINKS = 40  # the kernel's own limit


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL("libc.so.6", use_errno=True)  # already loaded by Python: dlopen just returns it
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2); always O_CLOEXEC. Raises OSError."""
    creating = flags & (os.O_CREAT | getattr(os, "O_TMPFILE", 0))
    how = _OpenHow(flags | os.O_CLOEXEC, mode if creating else 0, resolve)
    raw = os.fsencode(path)
    err = errno.EAGAIN
    for _ in range(RETRIES):
        fd = _syscall(ctypes.c_long(SYS_OPENAT2), ctypes.c_int(dirfd), ctypes.c_char_p(raw),
                      ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err not in (errno.EAGAIN, errno.EINTR):
            break
    if err == errno.ENOSYS:  # not an OSError: no caller may take it for a missing file
        raise FailedPrecondition("can't open a container's file: openat2: not available on this kernel",
                                 hint="rootless needs Linux 5.6 or later to reach a container's files safely")
    raise OSError(err, os.strerror(err), path)


def check_name(name: str) -> str:
    """A single path component, or ValueError (callers pass names they split themselves)."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ValueError(f"not a single path component: {name!r}")
    return name


def open_child(dirfd: int, name: str, flags: int, mode: int = 0) -> int:
    """name directly below dirfd, never through a symlink (a final symlink: ELOOP, or itself with O_PATH)."""
    return openat2(dirfd, check_name(name), flags | os.O_NOFOLLOW, CHILD, mode)


def lstat_child(dirfd: int, name: str) -> os.stat_result:
    return os.stat(check_name(name), dir_fd=dirfd, follow_symlinks=False)


@contextlib.contextmanager
def closing(fd: int) -> Iterator[int]:
    """with closing(os.open(...)) as fd: the fd is closed on the way out."""
    try:
        yield fd
    finally:
        os.close(fd)


def split(path: str) -> Tuple[str, str]:
    """(parent, name) of a path inside the root, lexically: "a/b/../c" -> ("/a", "c"); name "" for "/"."""
    normal = posixpath.normpath("/" + path)
    if normal.startswith("//"):
        normal = normal[1:]
    return posixpath.dirname(normal), posixpath.basename(normal)


def components(path: str) -> List[str]:
    parent, name = split(path)
    return [p for p in parent.split("/") if p] + ([name] if name else [])


class Root:
    """A directory opened once; every path given to it is resolved inside it by the kernel.

    symlinks True: symlinks are followed as a chroot would (a container's view).
    symlinks False: any symlink on the way is refused (ELOOP) and ".." may not
    climb above the top (EXDEV): for a tree we fill ourselves from a hostile tar.
    """

    def __init__(self, path: str, symlinks: bool = True) -> None:
        self.path = path
        self.resolve = IN_ROOT if symlinks else CHILD
        self.fd = os.open(path, DIR_PATH | os.O_CLOEXEC)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "Root":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, path: str, flags: int = os.O_RDONLY, follow: bool = True, mode: int = 0) -> int:
        """An fd for path; follow False: a final symlink is not followed (O_PATH gives the link)."""
        if self.resolve != IN_ROOT:  # RESOLVE_BENEATH takes relative paths only
            path = path.lstrip("/")
        return openat2(self.fd, path or ".", flags | (0 if follow else os.O_NOFOLLOW), self.resolve, mode)

    def open_dir(self, path: str, follow: bool = True) -> int:
        """A readable directory fd (listdir, fchmod); ENOTDIR when it is something else."""
        return self.open(path, os.O_RDONLY | os.O_DIRECTORY, follow)

    def stat(self, path: str, follow: bool = True) -> os.stat_result:
        with closing(self.open(path, os.O_PATH, follow)) as fd:
            return os.fstat(fd)

    def lstat(self, path: str) -> os.stat_result:
        return self.stat(path, follow=False)

    def readlink(self, path: str) -> str:
        """The target of a symlink (EINVAL when it is not one)."""
        with closing(self.open(path, os.O_PATH, follow=False)) as fd:
            return os.readlink("", dir_fd=fd)  # readlinkat(fd, "") reads an O_PATH symlink fd

    def parent(self, path: str) -> Tuple[int, str]:
        """(O_PATH fd of the parent directory, last component) of a path that names an entry."""
        parent, name = split(path)
        if not name:
            raise OSError(errno.EINVAL, "the root has no parent", path)
        return self.open(parent, DIR_PATH), name

    def makedirs(self, path: str, mode: int = 0o755) -> int:
        """mkdir -p inside the root, symlinks (dangling ones too) followed inside it; an O_PATH fd of it."""
        parts, count, links = components(path), 1, 0
        while count <= len(parts):
            target = self._make_one(parts, count, mode)
            if target is None:
                count += 1
                continue
            links += 1
            if links > MAX_SYMLINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            base = "" if target.startswith("/") else "/".join(parts[:count - 1])
            parts, count = components(f"{base}/{target}") + parts[count:], 1
        return self.open("/" + "/".join(parts), DIR_PATH)

    def _make_one(self, parts: List[str], count: int, mode: int) -> Optional[str]:
        """Make the count-th directory of parts; the target of a dangling symlink in the way, if any."""
        try:
            os.close(self.open("/" + "/".join(parts[:count]), DIR_PATH))
            return None
        except FileNotFoundError:
            pass
        with closing(self.open("/" + "/".join(parts[:count - 1]), DIR_PATH)) as parent_fd:
            try:
                os.mkdir(parts[count - 1], mode, dir_fd=parent_fd)
                return None
            except FileExistsError:
                pass
            try:
                return os.readlink(parts[count - 1], dir_fd=parent_fd)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                return None  # a directory made meanwhile: the next open says whether it is one

    def read_file(self, path: str, limit: int) -> Optional[bytes]:
        """Up to limit bytes of a regular file (symlinks followed inside the root); None if not one."""
        try:
            fd = self.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENXIO):
                return None  # ELOOP (a symlink loop, a magic link) is an error for the caller
            raise
        with closing(fd):
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return os.read(fd, limit)


def create_file(dirfd: int, name: str, mode: int) -> int:
    """A new empty regular file name in dirfd, open for writing; a non-directory there is replaced.

    O_EXCL|O_NOFOLLOW: whatever was there (a symlink to a host file, say) is unlinked, never opened.
    IsADirectoryError when a directory is in the way (the caller decides whether to remove it).
    """
    for _ in range(RETRIES):
        try:
            return open_child(dirfd, name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            unlink_non_dir(dirfd, name)
    raise OSError(errno.EEXIST, "kept being re-created while replacing it", name)


def unlink_non_dir(dirfd: int, name: str) -> None:
    """Remove a non-directory name in dirfd; IsADirectoryError for a directory; gone already is fine."""
    try:
        os.unlink(check_name(name), dir_fd=dirfd)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        raise
    except PermissionError:  # Linux says EISDIR for unlink of a dir, but some filesystems EPERM
        if stat.S_ISDIR(lstat_child(dirfd, name).st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", name) from None
        raise


def remove_all(dirfd: int, name: str, tries: int = RETRIES) -> None:
    """rm -rf name in dirfd without following any symlink (each level opened with open_child)."""
    for _ in range(tries):
        try:
            unlink_non_dir(dirfd, name)
            return
        except IsADirectoryError:
            pass
        try:
            child = open_child(dirfd, name, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                continue  # replaced by a non-directory meanwhile: unlink that
            raise
        with closing(child):
            for entry in os.listdir(child):
                remove_all(child, entry, tries)
        try:
            os.rmdir(name, dir_fd=dirfd)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.ENOTEMPTY:
                raise  # ENOTEMPTY: filled again meanwhile, go round
    raise OSError(errno.EBUSY, "kept changing while being removed", name)


def walk(dirfd: int, prefix: str = "") -> Iterator[Tuple[str, os.stat_result]]:
    """(path relative to dirfd, lstat) of each entry below dirfd, sorted, depth first, parents first.

    Each directory is opened with open_child before it is listed, so a directory
    swapped for a symlink after its lstat is never entered.
    """
    for name in sorted(os.listdir(dirfd)):
        try:
            info = lstat_child(dirfd, name)
        except FileNotFoundError:
            continue  # gone meanwhile
        rel = f"{prefix}{name}"
        yield rel, info
        if not stat.S_ISDIR(info.st_mode):
            continue
        try:
            child = open_child(dirfd, name, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                continue  # replaced by a non-directory (or a symlink) since the lstat
            raise
        with closing(child):
            yield from walk(child, rel + "/")
