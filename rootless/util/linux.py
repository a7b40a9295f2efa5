"""Thin ctypes bindings for the syscalls Python < 3.12 lacks (unshare, setns, mount)."""
from __future__ import annotations

import ctypes
import os
from typing import Optional

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MNT_DETACH = 2

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1

_libc: Optional[ctypes.CDLL] = None


def libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        # By soname, not ctypes.util.find_library: that forks `ldconfig -p` (~5 ms in
        # every monitor; bench/README.md). glibc's soname is stable (libc.so.6).
        try:
            _libc = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:  # not glibc (musl): the symbols the interpreter itself links
            _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(libc().unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(libc().setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def _encoded(text: Optional[str]) -> Optional[bytes]:
    return text.encode() if text is not None else None


def mount(source: str, target: str, fstype: Optional[str], flags: int, data: Optional[str]) -> None:
    result: int = libc().mount(_encoded(source), _encoded(target), _encoded(fstype), ctypes.c_ulong(flags),
                               _encoded(data))
    _check(result, f"mount {target}")


def umount(target: str, flags: int = 0) -> None:
    _check(libc().umount2(target.encode(), ctypes.c_int(flags)), f"umount {target}")


def prctl(option: int, arg: int) -> None:
    _check(libc().prctl(ctypes.c_int(option), ctypes.c_ulong(arg), 0, 0, 0), "prctl")


# statfs(2) f_type of filesystems shared between hosts (linux/magic.h and the vendors' sources).
# Issue 15: neither the store nor the runtime dir may live on one (host/placement.py, config/paths.py).
SHARED_FS_MAGICS = {
    0x6969: "nfs", 0x0BD00BD0: "lustre", 0x47504653: "gpfs", 0x19830326: "beegfs",
    0xFF534D42: "cifs", 0xFE534D42: "smb2", 0x00C36400: "ceph", 0x01021997: "9p",
    0x5346414F: "afs", 0x6B414653: "afs", 0x20030528: "orangefs",
}


def statfs_type(path: str) -> int:
    """f_type of the filesystem holding path (struct statfs starts with a native long)."""
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit Linux
    if libc().statfs(os.fsencode(path), buf) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return ctypes.c_ulong.from_buffer(buf).value & 0xFFFFFFFF


def existing_parent(path: str) -> str:
    """path, or its nearest ancestor that exists: where a dir to be made would live."""
    while path and path != "/" and not os.path.lexists(path):
        path = os.path.dirname(path)
    return path or "/"


IN_MODIFY = 0x2


def inotify_modify_watch(path: str) -> int:
    """A non-blocking inotify fd that turns readable when path is modified (cgroup v2 files such as
    memory.events notify their changes this way); the caller closes it."""
    fd = int(libc().inotify_init1(ctypes.c_int(os.O_NONBLOCK | os.O_CLOEXEC)))
    if fd < 0:
        _check(fd, "inotify_init1")
    if int(libc().inotify_add_watch(ctypes.c_int(fd), path.encode(), ctypes.c_uint32(IN_MODIFY))) < 0:
        err = ctypes.get_errno()
        os.close(fd)
        raise OSError(err, f"inotify_add_watch {path}: {os.strerror(err)}")
    return fd


_AT_FDCWD = -100
_AT_SYMLINK_NOFOLLOW = 0x100
_AT_NO_AUTOMOUNT = 0x800
STATX_ATTR_MOUNT_ROOT = 0x2000
# struct statx (linux/stat.h): stx_attributes at byte 8, stx_attributes_mask at byte 56; 256 bytes in all.
_STATX_SIZE, _STATX_ATTRIBUTES, _STATX_ATTRIBUTES_MASK = 256, 8, 56


def is_mount_root(path: str) -> Optional[bool]:
    """Whether path (not followed if a symlink) is the root of a mount: statx(2)'s STATX_ATTR_MOUNT_ROOT.

    None when statx can't tell (a kernel before 5.8 or a libc without statx, an error such as a
    dead FUSE mount's ENOTCONN): then only the mount table knows. One syscall, where reading
    /proc/self/mountinfo makes the kernel print every mount of the namespace.
    """
    function = getattr(libc(), "statx", None)
    if function is None:
        return None
    buf = ctypes.create_string_buffer(_STATX_SIZE)
    if function(ctypes.c_int(_AT_FDCWD), os.fsencode(path), ctypes.c_int(_AT_SYMLINK_NOFOLLOW | _AT_NO_AUTOMOUNT),
                ctypes.c_uint(0), buf) != 0:
        return None
    if not ctypes.c_uint64.from_buffer(buf, _STATX_ATTRIBUTES_MASK).value & STATX_ATTR_MOUNT_ROOT:
        return None  # the kernel does not report the attribute
    return bool(ctypes.c_uint64.from_buffer(buf, _STATX_ATTRIBUTES).value & STATX_ATTR_MOUNT_ROOT)
