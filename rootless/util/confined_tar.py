"""Tars in and out of a confined tree (util/confined.py): docker cp, export, and our CLI's cp.

Reading: entries are reached by fds walked down from the root, each opened
once without following a symlink, and its tar header is taken from that fd; a
swap after the listing can only change what is read, never where from.
Writing: each entry is created with *at calls relative to a confined parent
dirfd; whatever is in the way (a symlink to a host file, say) is replaced,
never written through, and names that climb out of the target are refused.
"""
from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
import tarfile
from typing import IO, Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Tuple

from rootless.errors import InvalidArgument
from rootless.util import confined, fs
from rootless.util.confined import Root

COPY_CHUNK = 1 << 20
BATCH = 64 << 10  # small entries are sent together, big files in COPY_CHUNK pieces
TAR_TYPES = {stat.S_IFREG: tarfile.REGTYPE, stat.S_IFDIR: tarfile.DIRTYPE, stat.S_IFLNK: tarfile.SYMTYPE,
             stat.S_IFCHR: tarfile.CHRTYPE, stat.S_IFBLK: tarfile.BLKTYPE, stat.S_IFIFO: tarfile.FIFOTYPE}


def tar_chunks(root: Root, path: str, arcname: str, follow: bool,
               mounted: Optional[Dict[str, str]] = None, hidden: FrozenSet[str] = frozenset()) -> Iterator[bytes]:
    """A tar of path (recursively) named arcname, in pieces; arcname "" leaves out the top's own entry.

    mounted: arcname -> a trusted host path (a stopped container's volume,
    say) read instead of the entry of that name in the tree. hidden: arcnames
    of directories taken without their contents (a running container's /proc).

    Written here rather than by tarfile so that a big file streams in pieces
    instead of being held whole in memory (tarfile's addfile writes it at once).
    """
    pending, total = bytearray(), 0
    for piece in TreeWriter(mounted, hidden).add_top(root, path, arcname, follow):
        pending += piece
        total += len(piece)
        if len(pending) >= BATCH:
            yield bytes(pending)
            pending.clear()
    # two zero blocks end the archive; tar pads it to a whole record, as tarfile does
    end = 2 * tarfile.BLOCKSIZE
    end += -(total + end) % tarfile.RECORDSIZE
    yield bytes(pending) + bytes(end)


def extract(root: Root, directory: str, stream: IO[bytes], no_overwrite_dir_non_dir: bool,
            owner: Optional[Tuple[int, int]], archive_owners: bool = False) -> None:
    """Unpack a tar stream below directory of root (see Extractor)."""
    extractor = Extractor(root, directory, no_overwrite_dir_non_dir, owner, archive_owners)
    with tarfile.open(fileobj=stream, mode="r|*") as tar:
        for member in tar:
            extractor.extract(tar, member)
    extractor.finish()


def open_entry(opener: Any) -> Optional[int]:
    """An fd for an entry: readable when it is a file or directory, O_PATH otherwise; None if gone.

    opener(flags) opens it without following a final symlink (ELOOP for one:
    then it is taken as O_PATH). The entry's type is what fstat of this fd says,
    so a swap after our listing can only change what is read, never where from.
    """
    for _ in range(confined.RETRIES):
        try:
            return int(opener(os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY))
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
        try:
            fd = int(opener(os.O_PATH))
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise
        if stat.S_IFMT(os.fstat(fd).st_mode) not in (stat.S_IFREG, stat.S_IFDIR):
            return fd  # a symlink, socket or device: its O_PATH fd is all the tar needs
        os.close(fd)  # swapped back to a file or directory meanwhile: open it readable
    return None  # it keeps changing: left out, like a file removed during the walk


class TreeWriter:
    """Tar entries (header, data, padding) read from fds walked down from the root."""

    def __init__(self, mounted: Optional[Dict[str, str]] = None, hidden: FrozenSet[str] = frozenset()) -> None:
        self.links: Dict[Tuple[int, int], str] = {}  # (dev, ino) -> first arcname, for hard links
        self.mounted = mounted or {}  # arcname -> trusted host path read in its place (see tar_chunks)
        self.hidden = hidden  # arcnames of directories whose contents are left out

    def add_top(self, root: Root, path: str, arcname: str, follow: bool) -> Iterator[bytes]:
        """The entries of path (recursively) as arcname. FileNotFoundError if it is missing."""
        fd = open_entry(lambda flags: root.open(path, flags, follow=follow))
        if fd is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        with confined.closing(fd):
            yield from self._add(fd, arcname, top_of_export=not arcname)

    def _add(self, fd: int, arcname: str, top_of_export: bool = False) -> Iterator[bytes]:
        st = os.fstat(fd)
        if not top_of_export:
            yield from self._entry(fd, st, arcname)
        if not stat.S_ISDIR(st.st_mode) or arcname in self.hidden:
            return
        for name in sorted(os.listdir(fd)):
            child_arcname = f"{arcname}/{name}" if arcname else name
            child = open_entry(self._opener(fd, name, child_arcname))
            if child is None:
                continue  # removed since the listing
            with confined.closing(child):
                yield from self._add(child, child_arcname)

    def _opener(self, fd: int, name: str, arcname: str) -> Callable[[int], int]:
        """How to open a child: from its parent's fd, or the host path mounted there."""
        source = self.mounted.get(arcname)
        if source is not None:
            return lambda flags: os.open(source, flags | os.O_NOFOLLOW | os.O_CLOEXEC)
        return lambda flags: confined.open_child(fd, name, flags)

    def _entry(self, fd: int, st: os.stat_result, arcname: str) -> Iterator[bytes]:
        info = self._info(fd, st, arcname)
        if info is None:
            return  # a socket: tar cannot carry one (docker skips them too)
        yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        if info.type == tarfile.REGTYPE:
            yield from _file_data(fd, info.size)

    def _info(self, fd: int, st: os.stat_result, arcname: str) -> Optional[tarfile.TarInfo]:
        kind = stat.S_IFMT(st.st_mode)
        if kind not in TAR_TYPES:
            return None
        info = tarfile.TarInfo(arcname)
        info.mode, info.uid, info.gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
        info.mtime, info.type = int(st.st_mtime), TAR_TYPES[kind]
        key = (st.st_dev, st.st_ino)
        if kind == stat.S_IFREG and st.st_nlink > 1 and key in self.links:
            info.type, info.linkname = tarfile.LNKTYPE, self.links[key]
        elif kind == stat.S_IFREG:
            info.size = st.st_size
            if st.st_nlink > 1:
                self.links[key] = arcname
        elif kind == stat.S_IFLNK:
            info.linkname = os.readlink("", dir_fd=fd)
        elif kind in (stat.S_IFCHR, stat.S_IFBLK):
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        return info


def _file_data(fd: int, size: int) -> Iterator[bytes]:
    """Exactly size bytes of an open file, then padding to a block (zeros if it shrank meanwhile)."""
    left = size
    while left > 0:
        data = os.read(fd, min(left, COPY_CHUNK))
        if not data:  # the file shrank under us: the header promised size bytes
            data = bytes(min(left, COPY_CHUNK))
        left -= len(data)
        yield data
    yield bytes(-size % tarfile.BLOCKSIZE)


def entry_name(name: str) -> str:
    """A tar entry's name relative to the extraction directory; InvalidArgument if it climbs out."""
    clean = posixpath.normpath(name.lstrip("/")) if name.strip("/") else "."
    if clean == ".." or clean.startswith("../"):
        raise InvalidArgument(f"invalid archive entry: {name}: outside the target")
    return clean


class Extractor:
    """Creates tar entries below a directory of a Root with *at calls on confined parent dirfds.

    Parents are resolved as the Root resolves (inside it, or refusing any
    symlink). Every entry is given owner (uid, gid), as dockerd's ChownOpts
    does: the tar's own ids are not used; None leaves owners alone (an
    ordinary user's copy out). archive_owners (with owner None) gives each
    entry the tar's own uid/gid instead: only a build's ADD of a local
    archive, where docker keeps them.
    """

    def __init__(self, root: Root, directory: str, no_overwrite_dir_non_dir: bool,
                 owner: Optional[Tuple[int, int]] = None, archive_owners: bool = False) -> None:
        self.root, self.base = root, directory.rstrip("/") or ""
        self.no_overwrite, self.owner = no_overwrite_dir_non_dir, owner
        self.archive_owners = archive_owners and owner is None
        self.dirs: List[Tuple[str, tarfile.TarInfo]] = []  # mode and times set last (see finish)

    def extract(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        rel = entry_name(member.name)
        if rel == ".":
            return  # docker skips the "./" entry of the extraction directory itself
        path = f"{self.base}/{rel}"
        parent_path, name = confined.split(path)
        try:
            parent = self.root.makedirs(parent_path)
        except OSError as exc:
            reason = "a symlink is on its path" if exc.errno == errno.ELOOP else f"{parent_path}: {exc.strerror}"
            raise InvalidArgument(f"can't extract {member.name}: {reason}") from None
        with confined.closing(parent):
            try:
                self._clear_way(parent, name, member, path)
                self._create(tar, member, parent, name)
            except OSError as exc:
                raise InvalidArgument(f"can't extract {member.name}: {exc.strerror}") from None
        if member.isdir():
            self.dirs.append((path, member))

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
                self._set_owner(fd, member)
        elif member.isreg():
            self._create_file(tar, member, parent, name)
        elif member.issym():
            _replace(parent, name, lambda: os.symlink(member.linkname, name, dir_fd=parent))
            ids = self._ids(member)
            if ids is not None:
                self._checked(member, ids, lambda: os.chown(name, *ids, dir_fd=parent, follow_symlinks=False))
            os.utime(name, (member.mtime, member.mtime), dir_fd=parent, follow_symlinks=False)
        elif member.islnk():
            self._link(member, parent, name)
        elif member.isfifo():
            _replace(parent, name, lambda: os.mkfifo(name, 0o600, dir_fd=parent))
            with confined.closing(confined.open_child(parent, name, os.O_RDONLY | os.O_NONBLOCK)) as fd:
                self._set_owner_mode(fd, member)
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
                fs.write_all(fd, chunk)
            self._set_owner_mode(fd, member)

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
        """Directory modes and times, deepest first, once nothing more is created in them.

        (A read-only directory must stay writable until its entries are in.)
        """
        for path, member in reversed(self.dirs):
            try:
                fd = self.root.open_dir(path, follow=False)
            except OSError:
                continue  # removed or replaced by a later entry: nothing to set
            with confined.closing(fd):
                os.fchmod(fd, member.mode & 0o7777)
                os.utime(fd, (member.mtime, member.mtime))

    def _set_owner_mode(self, fd: int, member: tarfile.TarInfo) -> None:
        """Owner, then mode (a chown clears set-id bits), then times, all through the entry's own fd."""
        self._set_owner(fd, member)
        os.fchmod(fd, member.mode & 0o7777)
        os.utime(fd, (member.mtime, member.mtime))

    def _ids(self, member: tarfile.TarInfo) -> Optional[Tuple[int, int]]:
        """The (uid, gid) an entry gets, None to leave the creator's."""
        if self.archive_owners:
            return member.uid, member.gid
        return self.owner

    def _set_owner(self, fd: int, member: tarfile.TarInfo) -> None:
        ids = self._ids(member)
        if ids is not None:
            self._checked(member, ids, lambda: os.fchown(fd, *ids))

    @staticmethod
    def _checked(member: tarfile.TarInfo, ids: Tuple[int, int], chown: Callable[[], None]) -> None:
        """chown(), an id outside the user namespace's range refused by name."""
        try:
            chown()
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            raise InvalidArgument(f"can't extract {member.name}: owner {ids[0]}:{ids[1]}: "
                                  "not in this user namespace's id range",
                                  hint="a rootless container can use the ids of your subuid/subgid range") from None


def _replace(parent: int, name: str, create: Any) -> None:
    """create() a new non-directory name in parent, unlinking what appeared there meanwhile."""
    for _ in range(confined.RETRIES):
        try:
            create()
            return
        except FileExistsError:
            confined.unlink_non_dir(parent, name)
    raise OSError(errno.EEXIST, "kept being re-created", name)
