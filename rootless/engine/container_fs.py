"""A container's files from outside: docker cp (archive), export, changes, top.

A container's files are hostile, and a running container can swap any of them
for a symlink at any moment. Everything here goes through util/confined.py:
paths are resolved by the kernel inside the rootfs (openat2 RESOLVE_IN_ROOT),
trees are read by walking fds (each entry opened once without following a
symlink, its header taken from that fd), and extraction creates each entry
with *at calls relative to a confined parent dirfd, replacing (never writing
through) a symlink in the last component. See issue 7 and CVE-2018-15664.
"""
from __future__ import annotations

import contextlib
import datetime
import errno
import io
import os
import posixpath
import stat
import tarfile
from typing import IO, Any, Dict, Iterator, List, Optional, Tuple, cast

from rootless.errors import InvalidArgument, NotFound
from rootless.util import confined
from rootless.util.confined import Root

COPY_CHUNK = 1 << 20
MISSING = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)
TAR_TYPES = {stat.S_IFREG: tarfile.REGTYPE, stat.S_IFDIR: tarfile.DIRTYPE, stat.S_IFLNK: tarfile.SYMTYPE,
             stat.S_IFCHR: tarfile.CHRTYPE, stat.S_IFBLK: tarfile.BLKTYPE, stat.S_IFIFO: tarfile.FIFOTYPE}


def go_file_mode(st: os.stat_result) -> int:
    """Go's os.FileMode bits, which docker cp's stat header carries."""
    mode = stat.S_IMODE(st.st_mode) & 0o777
    if stat.S_ISDIR(st.st_mode):
        mode |= 1 << 31
    elif stat.S_ISLNK(st.st_mode):
        mode |= 1 << 27
    elif stat.S_ISFIFO(st.st_mode):
        mode |= 1 << 25
    elif stat.S_ISSOCK(st.st_mode):
        mode |= 1 << 24
    elif stat.S_ISCHR(st.st_mode):
        mode |= (1 << 26) | (1 << 21)
    elif stat.S_ISBLK(st.st_mode):
        mode |= 1 << 26
    if st.st_mode & stat.S_ISUID:
        mode |= 1 << 23
    if st.st_mode & stat.S_ISGID:
        mode |= 1 << 22
    if st.st_mode & stat.S_ISVTX:
        mode |= 1 << 20
    return mode


def follows_last(container_path: str) -> bool:
    """docker's ResolvePath: "dir/" and "dir/." resolve a final symlink, "dir/link" does not."""
    return container_path.endswith(("/", "/.")) or container_path in ("", ".")


def archive_name(container_path: str) -> str:
    """The name of the copied root in a docker cp tar ("." for SRC/.)."""
    if container_path.endswith("/.") or container_path == ".":
        return "."
    return posixpath.basename(container_path.rstrip("/")) or "."


def path_stat(rootfs: str, container_path: str, container_name: str) -> Dict[str, Any]:
    """docker cp's stat header (HEAD /containers/{id}/archive) of a path in the container."""
    with Root(rootfs) as root:
        try:
            fd = root.open(container_path, os.O_PATH, follow=follows_last(container_path))
        except OSError as exc:
            if exc.errno in MISSING:
                raise NotFound(f"Could not find the file {container_path} in container {container_name}") from None
            raise
        with confined.closing(fd):
            st = os.fstat(fd)
            link = os.readlink("", dir_fd=fd) if stat.S_ISLNK(st.st_mode) else ""
    mtime = datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc).isoformat()
    return {"name": posixpath.basename(container_path.rstrip("/")) or "/", "size": st.st_size,
            "mode": go_file_mode(st), "mtime": mtime, "linkTarget": link}


class _PipeWriter(io.RawIOBase):
    """A file object tarfile writes into, feeding a generator chunk by chunk."""

    def __init__(self) -> None:
        self.chunks: List[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.chunks.append(bytes(data))
        return len(data)


def tar_stream(rootfs: str, container_path: str, arcname: str) -> Iterator[bytes]:
    """A tar of a container path (recursively) named arcname, streamed in pieces.

    arcname "" is an export: the tree's entries without one for its top.
    """
    sink = _PipeWriter()
    # Older typeshed wants IO[bytes] for fileobj; stream mode "w|" only calls write() and close().
    with Root(rootfs) as root, tarfile.open(fileobj=cast(IO[bytes], sink), mode="w|",
                                            format=tarfile.PAX_FORMAT) as tar:
        writer = _TreeWriter(tar)
        for _ in writer.add_top(root, container_path, arcname):
            if sink.chunks:
                yield b"".join(sink.chunks)
                sink.chunks.clear()
    if sink.chunks:
        yield b"".join(sink.chunks)


def _open_entry(opener: Any) -> Optional[int]:
    """An fd for an entry, readable when it is a file or directory, O_PATH otherwise; None if gone.

    opener(flags) opens it without following a final symlink (ELOOP for one:
    then it is taken as O_PATH). The entry's type is what fstat of this fd says,
    so a swap after our listing can only change what we read, never where from.
    """
    try:
        return int(opener(os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY))
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
    try:
        return int(opener(os.O_PATH))
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


class _TreeWriter:
    """Adds entries to a tar from fds walked down from the root."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.links: Dict[Tuple[int, int], str] = {}  # (dev, ino) -> first arcname, for hard links

    def add_top(self, root: Root, container_path: str, arcname: str) -> Iterator[None]:
        follow = follows_last(container_path)
        fd = _open_entry(lambda flags: root.open(container_path, flags, follow=follow))
        if fd is None:
            raise NotFound(f"Could not find the file {container_path} in container")
        with confined.closing(fd):
            yield from self._add(fd, arcname, top_of_export=not arcname)

    def _add(self, fd: int, arcname: str, top_of_export: bool = False) -> Iterator[None]:
        st = os.fstat(fd)
        if not top_of_export:
            self._header(fd, st, arcname)
            yield
        if not stat.S_ISDIR(st.st_mode):
            return
        for name in sorted(os.listdir(fd)):
            child = _open_entry(lambda flags: confined.open_child(fd, name, flags))
            if child is None:
                continue  # removed since the listing
            with confined.closing(child):
                yield from self._add(child, f"{arcname}/{name}" if arcname else name)

    def _header(self, fd: int, st: os.stat_result, arcname: str) -> None:
        info = tarfile.TarInfo(arcname)
        info.mode, info.uid, info.gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
        info.mtime = int(st.st_mtime)
        kind = stat.S_IFMT(st.st_mode)
        if kind not in TAR_TYPES:
            return  # a socket: tar cannot carry one (docker skips them too)
        info.type = TAR_TYPES[kind]
        key = (st.st_dev, st.st_ino)
        if kind == stat.S_IFREG and st.st_nlink > 1:
            if key in self.links:
                info.type, info.linkname = tarfile.LNKTYPE, self.links[key]
                self.tar.addfile(info)
                return
            self.links[key] = arcname
        if kind == stat.S_IFREG:
            info.size = st.st_size
            self.tar.addfile(info, _FdReader(fd, st.st_size))
            return
        if kind == stat.S_IFLNK:
            info.linkname = os.readlink("", dir_fd=fd)
        elif kind in (stat.S_IFCHR, stat.S_IFBLK):
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        self.tar.addfile(info)


class _FdReader(io.RawIOBase):
    """Exactly size bytes of an open file (zero-padded if it shrank meanwhile, cut if it grew)."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.left = fd, size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        want = self.left if size < 0 else min(size, self.left)
        parts: List[bytes] = []
        while want > 0:
            data = os.read(self.fd, min(want, COPY_CHUNK))
            if not data:  # the file shrank under us: tar needs the size its header said
                data = bytes(want)
            parts.append(data)
            want -= len(data)
            self.left -= len(data)
        return b"".join(parts)


def extract_into(rootfs: str, container_dir: str, body: IO[bytes], no_overwrite_dir_non_dir: bool) -> None:
    """Extract a tar body into a directory of the container (PUT /containers/{id}/archive).

    Entries are confined to the rootfs (parents resolved inside it), names that
    climb out of container_dir are refused, and whatever is in the way of an
    entry (a symlink to a host file, say) is replaced, never written through.
    """
    with Root(rootfs) as root:
        try:
            st = root.stat(container_dir)
        except OSError as exc:
            if exc.errno in MISSING:
                raise NotFound(f"Could not find the file {container_dir} in container") from None
            raise
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidArgument(f"extraction point is not a directory: {container_dir}")
        extractor = _Extractor(root, container_dir, no_overwrite_dir_non_dir)
        with tarfile.open(fileobj=body, mode="r|*") as tar:
            for member in tar:
                extractor.extract(tar, member)
        extractor.finish()


def entry_name(name: str) -> str:
    """A tar entry's name relative to the extraction directory; InvalidArgument if it climbs out."""
    clean = posixpath.normpath(name.lstrip("/")) if name.strip("/") else "."
    if clean == ".." or clean.startswith("../"):
        raise InvalidArgument(f"invalid archive entry: {name}: outside the target")
    return clean


class _Extractor:
    """Creates tar entries under a container directory with *at calls on confined parent dirfds."""

    def __init__(self, root: Root, container_dir: str, no_overwrite_dir_non_dir: bool) -> None:
        self.root, self.base = root, container_dir.rstrip("/") or ""
        self.no_overwrite = no_overwrite_dir_non_dir
        self.dir_times: List[Tuple[str, float]] = []  # set last: creating entries changes them

    def extract(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        rel = entry_name(member.name)
        if rel == ".":
            return  # docker skips the "./" entry of the extraction directory itself
        path = f"{self.base}/{rel}"
        parent_path, name = confined.split(path)
        try:
            parent = self.root.makedirs(parent_path)
        except OSError as exc:
            raise InvalidArgument(f"can't extract {member.name}: {parent_path}: {exc.strerror}") from None
        with confined.closing(parent):
            try:
                self._clear_way(parent, name, member, path)
                self._create(tar, member, parent, name)
            except OSError as exc:
                raise InvalidArgument(f"can't extract {member.name}: {exc.strerror}") from None
        if member.isdir():
            self.dir_times.append((path, member.mtime))

    def _clear_way(self, parent: int, name: str, member: tarfile.TarInfo, path: str) -> None:
        """docker's rule: an existing entry is removed unless both are directories."""
        try:
            is_dir = stat.S_ISDIR(confined.lstat_child(parent, name).st_mode)
        except FileNotFoundError:
            return
        if self.no_overwrite and is_dir and not member.isdir():
            raise InvalidArgument(f"cannot overwrite directory {path!r} with non-directory {member.name!r}")
        if self.no_overwrite and not is_dir and member.isdir():
            raise InvalidArgument(f"cannot overwrite non-directory {path!r} with directory {member.name!r}")
        if not (is_dir and member.isdir()):
            confined.remove_all(parent, name)

    def _create(self, tar: tarfile.TarFile, member: tarfile.TarInfo, parent: int, name: str) -> None:
        if member.isdir():
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=parent)
            with confined.closing(confined.open_child(parent, name, os.O_RDONLY | os.O_DIRECTORY)) as fd:
                _set_owner_mode(fd, member)
        elif member.isreg():
            self._create_file(tar, member, parent, name)
        elif member.issym():
            _replace(parent, name, lambda: os.symlink(member.linkname, name, dir_fd=parent))
            os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
            os.utime(name, (member.mtime, member.mtime), dir_fd=parent, follow_symlinks=False)
        elif member.islnk():
            self._link(member, parent, name)
        elif member.isfifo():
            _replace(parent, name, lambda: os.mkfifo(name, 0o600, dir_fd=parent))
            with confined.closing(confined.open_child(parent, name, os.O_RDONLY | os.O_NONBLOCK)) as fd:
                _set_owner_mode(fd, member)
        elif member.ischr() or member.isblk():
            raise InvalidArgument(f"can't extract {member.name}: device nodes can't be made in a rootless container",
                                  hint="leave device files out of the archive")
        else:
            raise InvalidArgument(f"can't extract {member.name}: unsupported tar entry type {member.type!r}")

    def _create_file(self, tar: tarfile.TarFile, member: tarfile.TarInfo, parent: int, name: str) -> None:
        with confined.closing(confined.create_file(parent, name, 0o600)) as fd:
            data = tar.extractfile(member)
            while data is not None:
                chunk = data.read(COPY_CHUNK)
                if not chunk:
                    break
                _write_all(fd, chunk)
            _set_owner_mode(fd, member)

    def _link(self, member: tarfile.TarInfo, parent: int, name: str) -> None:
        """A hard link to an entry extracted before, both inside the extraction directory."""
        source_parent, source_name = self.root.parent(f"{self.base}/{entry_name(member.linkname)}")
        with confined.closing(source_parent):
            if not source_name:
                raise InvalidArgument(f"invalid archive entry: {member.name}: bad hard link target")
            # linkat without AT_SYMLINK_FOLLOW links a symlink itself, never what it points to
            _replace(parent, name, lambda: os.link(source_name, name, src_dir_fd=source_parent,
                                                   dst_dir_fd=parent, follow_symlinks=False))

    def finish(self) -> None:
        """Directory times, deepest first, once nothing more is created in them."""
        for path, mtime in reversed(self.dir_times):
            try:
                with confined.closing(self.root.open_dir(path, follow=False)) as fd:
                    os.utime(fd, (mtime, mtime))
            except OSError:
                continue  # removed or replaced by a later entry: nothing to stamp


def _replace(parent: int, name: str, create: Any) -> None:
    """create() a new non-directory name in parent, unlinking what appeared there meanwhile."""
    for _ in range(confined.RETRIES):
        try:
            create()
            return
        except FileExistsError:
            confined.unlink_non_dir(parent, name)
    raise OSError(errno.EEXIST, "kept being re-created", name)


def _set_owner_mode(fd: int, member: tarfile.TarInfo) -> None:
    """Owner, then mode (a chown clears set-id bits), then times, all through the entry's own fd."""
    try:
        os.fchown(fd, member.uid, member.gid)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        raise InvalidArgument(f"can't extract {member.name}: owner {member.uid}:{member.gid}: "
                              "not in this user namespace's id range",
                              hint="the ids a rootless container can use are those of your subuid/subgid range") from None
    os.fchmod(fd, member.mode & 0o7777)
    if not member.isdir():
        os.utime(fd, (member.mtime, member.mtime))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def processes_in(pid: int) -> List[int]:
    """Every process in the pid namespace whose init is pid (seen from our side)."""
    try:
        target = os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == target:
                    found.append(int(entry))
            except OSError:
                continue
    return sorted(found)


def top_rows(pids: List[int]) -> Dict[str, Any]:
    """docker top's default ps -ef columns."""
    rows = []
    clock = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) // clock
        rows.append([str(uid), str(pid), fields[1], "0", "-", "?",
                     f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}", cmd])
    return {"Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], "Processes": rows}
