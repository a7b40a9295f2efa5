"""Applying a layer tar to a directory: decompression, whiteouts, ownership, safety; its DiffID.

Inside the directory the OCI whiteouts (image-spec layer.md "Whiteouts") are
converted to overlayfs's own markers (kernel Documentation/filesystems/overlayfs.rst):
  - `.wh.<name>`      -> `<name>` is a character device 0/0 (a whiteout);
  - `.wh..wh..opq`    -> its directory has xattr `user.overlay.opaque=y` (read by
                         overlay mounted with `userxattr`, and by fuse-overlayfs);
  - other `.wh..wh.*` (aufs bookkeeping) entries are dropped.
Ownership is the container's: uids/gids of the tar are applied with lchown as
root of the engine's user namespace; where an id is unmapped (EPERM/EINVAL, e.g.
a single-uid mapping) the file keeps the unpacker's id. Overlay bookkeeping
xattrs (user.overlay.*, trusted.overlay.*, user.fuseoverlayfs.*) from the tar
are dropped: a layer must not forge them.

Safety: an entry whose normalised path is absolute or climbs out with `..`, a
hardlink whose target does, and an entry whose parent path goes through a
symlink are refused with InvalidArgument naming the layer and the entry (the
caller, images/layers.py, then removes the directory). Files are created with
O_NOFOLLOW|O_EXCL after removing whatever was at the path, so writing never
follows a symlink. The tar itself is parsed by images/layer_reader.py, not
tarfile: a third of the applier's CPU less, and stricter on malformed headers.
"""
from __future__ import annotations

import contextlib
import errno
import io
import gzip
import hashlib
import logging
import os
import posixpath
import queue
import stat
import tarfile
import threading
import zlib
from typing import IO, Callable, Iterator, List, Optional, Protocol, Set, Tuple, Type, TypeVar, Union, cast

import zstandard

from rootless.errors import FailedPrecondition, InvalidArgument
from rootless.images.diskspace import SpaceGuard
from rootless.images.layer_reader import TarEntry, TarReader
from rootless.util.fs import remove_tree

_T = TypeVar("_T")

logger = logging.getLogger(__name__)

BUFSIZE = 1 << 20
# tarfile's stream buffer is re-sliced on every 512-byte header read: keep it small.
TAR_BUFSIZE = 64 << 10
OPAQUE_XATTR = "user.overlay.opaque"
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
META_PREFIX = ".wh..wh."
PRIVATE_XATTR_PREFIXES = ("user.overlay.", "trusted.overlay.", "user.fuseoverlayfs.")
XATTR_PAX_PREFIX = "SCHILY.xattr."
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def apply_layer(raw: Reader, root: str, layer_name: str, guard: Optional[SpaceGuard] = None) -> Tuple[str, int]:
    """Extract a (gzip/zstd/plain) layer tar into root; returns (DiffID, bytes of file data).

    guard: charged for every entry before it is written (the storage reserve).
    """
    with contextlib.ExitStack() as stack:
        reader = _HashingReader(_decompressed(raw, stack))
        stack.callback(reader.close)
        try:
            tar = TarReader(reader, f"can't unpack layer: {layer_name}")
            applier = _Applier(root, layer_name, guard)
            for member in tar:
                applier.apply(tar, member)
            applier.finish()
            reader.drain()
        except (EOFError, zlib.error, zstandard.ZstdError) as exc:
            raise InvalidArgument(f"can't unpack layer: {layer_name}: corrupt archive: {exc}") from exc
        except gzip.BadGzipFile as exc:
            raise InvalidArgument(f"can't unpack layer: {layer_name}: corrupt gzip: {exc}") from exc
    return reader.digest(), applier.size


def detect_compression(head: bytes) -> str:
    """"gzip", "zstd" or "none", from the first bytes of a blob."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


class Reader(Protocol):
    """What a layer stream offers: read(size) -> bytes, short only at the end; read() reads all."""

    def read(self, size: int = -1, /) -> bytes: ...


def open_uncompressed(raw: IO[bytes], stack: contextlib.ExitStack) -> Reader:
    """A reader of the uncompressed bytes of a (maybe) compressed stream."""
    return _decompressed(raw, stack)


def open_tar_stream(source: Reader) -> tarfile.TarFile:
    """tarfile's stream mode ("r|": read forwards once, never seek) over source."""
    # typeshed types fileobj with one protocol for every mode (read, write, seek, tell,
    # close); stream reading only ever calls read() (CPython Lib/tarfile.py, _Stream).
    fileobj = cast(IO[bytes], source)
    return tarfile.open(fileobj=fileobj, mode="r|", bufsize=TAR_BUFSIZE, errors="surrogateescape")


# -- streams --------------------------------------------------------------------
class _Peekable:
    """Gives back the few bytes read to sniff the compression."""

    def __init__(self, raw: Reader, head: bytes) -> None:
        self._raw = raw
        self._head = head

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._raw.read(size)
        if size is None or size < 0:
            head, self._head = self._head, b""
            return head + self._raw.read()
        head, self._head = self._head[:size], self._head[size:]
        return head + self._raw.read(size - len(head))

    def seek(self, offset: int, whence: int = 0, /) -> int:
        """Refused: GzipFile seeks its source only to rewind, which a forward tar stream never asks."""
        raise io.UnsupportedOperation("a layer stream is read once, forwards")


def _decompressed(raw: Reader, stack: contextlib.ExitStack) -> Reader:
    head = raw.read(4)
    source = _Peekable(raw, head)
    kind = detect_compression(head)
    if kind == "gzip":
        return _GzipReader(source)
    if kind == "zstd":
        # zstandard's stub asks for IO[bytes]; its stream reader only calls read().
        reader = zstandard.ZstdDecompressor().stream_reader(cast(IO[bytes], source), read_across_frames=True)
        return stack.enter_context(reader)
    return source


class _Inflate(Protocol):
    """What _GzipReader uses of a decompressobj; zlib's and isal_zlib's offer the same."""

    @property
    def unused_data(self) -> bytes: ...

    @property
    def unconsumed_tail(self) -> bytes: ...

    @property
    def eof(self) -> bool: ...

    def decompress(self, data: bytes, /, max_length: int = 0) -> bytes: ...


def _gzip_inflater() -> Tuple[_Inflate, Type[Exception]]:
    """A gzip-mode (wbits 31) decompressobj and the error it raises: ISA-L's where isal is installed.

    ISA-L inflates a layer in half zlib's CPU time (bench/README.md "Single-layer
    pull"). Both check each member's CRC-32 and length. isal is a dependency where
    it has wheels (pyproject.toml); elsewhere this is zlib. Imported on first use:
    most processes that import this module never unpack a layer.
    """
    try:
        from isal import isal_zlib
    except ImportError:
        return zlib.decompressobj(31), zlib.error
    # isal's stub declares `error: Exception` (an instance); it is the IsalError class.
    return isal_zlib.decompressobj(31), cast(Type[Exception], isal_zlib.error)


class _GzipReader:
    """gzip members (RFC 1952) decoded in steps of up to a MiB, for the reader thread.

    gzip.GzipFile feeds zlib 8 KiB at a time; each step takes the GIL back from
    the thread writing files. The inflater (_gzip_inflater: ISA-L or zlib, gzip
    mode) checks each member's CRC-32 and length itself. Like GzipFile, this
    reads concatenated members, skips zero padding between and after them, and
    raises EOFError when the stream ends inside a member and zlib.error (for
    either inflater) on anything else that is not gzip.
    """

    INPUT = 1 << 20

    def __init__(self, raw: Reader) -> None:
        self._raw = raw
        self._inflate, self._error = _gzip_inflater()
        self._pending = b""     # compressed bytes not given to the inflater yet
        self._in_member = False  # the inflater has started a member that has not ended
        self._after_member = False  # zero padding may follow a member, not precede the first

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(BUFSIZE), b""))
        while size > 0:
            if not self._pending and not self._refill():
                return b""
            data = self._decompress(size)
            self._pending = self._inflate.unconsumed_tail
            self._in_member = True
            if self._inflate.eof:
                self._next_member()
            if data:
                return data
        return b""

    def _decompress(self, size: int) -> bytes:
        if not self._in_member and len(self._pending) >= 2 and not self._pending.startswith(GZIP_MAGIC):
            # zlib says so itself; ISA-L would wait for more of a "header" and report EOF
            raise zlib.error("not a gzip member: trailing data after the gzip stream")
        try:
            return self._inflate.decompress(self._pending, size)
        except self._error as exc:
            if isinstance(exc, zlib.error):
                raise
            raise zlib.error(str(exc)) from exc  # one error type for every caller

    def _refill(self) -> bool:
        """Next compressed bytes into _pending; False at a clean end of the stream."""
        while True:
            chunk = self._raw.read(self.INPUT)
            if not chunk:
                if self._in_member:
                    raise EOFError("compressed file ended before the end-of-stream marker was reached")
                return False
            self._pending = chunk.lstrip(b"\x00") if self._after_member and not self._in_member else chunk
            if self._pending:
                return True

    def _next_member(self) -> None:
        # At the end of a member the rest of the input is in unused_data (zlib's
        # unconsumed_tail may hold a copy of it: CPython zlibmodule.c save_unconsumed_input).
        self._pending = self._inflate.unused_data.lstrip(b"\x00")
        self._inflate, self._error = _gzip_inflater()
        self._in_member = False
        self._after_member = True


class _HashingReader:
    """Decompresses and hashes in a helper thread, ahead of the tar parser.

    The DiffID is sha256 of the uncompressed tar. ISA-L, zlib, zstd and hashlib release
    the GIL, so on two cores decompression overlaps with writing files (gzip alone
    is about a third of an unpack, HOST-NOTES).
    """

    # Each chunk is a hand-off (queue, GIL) between the two threads: 1 MiB ones cut the
    # futex calls of a debian unpack from 7.7k to 0.7k and the wall time by ~20 %.
    CHUNK = 1 << 20

    def __init__(self, inner: Reader) -> None:
        self._inner = inner
        self._hasher = hashlib.sha256()
        self._queue: "queue.Queue[Union[bytes, BaseException]]" = queue.Queue(maxsize=8)
        self._stop = threading.Event()
        self._buffer = b""
        self._offset = 0
        self._eof = False
        self._thread = threading.Thread(target=self._produce, name="layer-reader", daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._inner.read(self.CHUNK)
                self._hasher.update(data)
                self._put(data)
                if not data:
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
            self._put(exc)

    def _put(self, item: Union[bytes, BaseException]) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._queue.put(item, timeout=0.1)
                return

    def _next_chunk(self) -> None:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        self._buffer, self._offset = item, 0
        self._eof = not item

    def read1(self, size: int = -1, /) -> bytes:
        """Up to size bytes of one chunk, no copy of it when the whole chunk is asked; b"" at the end."""
        while self._offset >= len(self._buffer):
            if self._eof:
                return b""
            self._next_chunk()
        end = len(self._buffer) if size is None or size < 0 else self._offset + size
        part = self._buffer[self._offset:end]
        self._offset += len(part)
        return part

    def drain(self) -> None:
        """Hash whatever follows the end of the archive (more zero blocks, usually)."""
        while self.read1(BUFSIZE):
            pass

    def digest(self) -> str:
        """The DiffID; valid once drain() has returned."""
        return "sha256:" + self._hasher.hexdigest()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


# -- applying entries -------------------------------------------------------------
def clean_entry_name(name: str, layer_name: str, what: str = "entry") -> str:
    """The entry's path relative to the layer root ("" for the root); refuses escapes."""
    norm = posixpath.normpath(name) if name else "."
    if norm.startswith("/"):
        raise InvalidArgument(f"can't unpack layer: {layer_name}: {what} {name!r}: absolute path")
    if norm == ".." or norm.startswith("../"):
        raise InvalidArgument(f"can't unpack layer: {layer_name}: {what} {name!r}: path escapes the layer")
    return "" if norm == "." else norm


class _Applier:
    """Applies the members of one layer tar to a fresh directory."""

    def __init__(self, root: str, layer_name: str, guard: Optional[SpaceGuard] = None) -> None:
        self.root = root
        self.layer = layer_name
        self.size = 0
        self._guard = guard
        self._real_dirs: Set[str] = {""}   # relative paths known to be real dirs, not symlinks
        self._dirs: List[Tuple[str, int, float]] = []  # (rel, mode, mtime) applied at the end
        # A new inode already has our ids unless its dir hands down its group (setgid): the
        # dirs created here have no setgid bit until finish(), so only the root's counts.
        self._owner = _Owner(fresh_ids_are_ours=not os.stat(root).st_mode & stat.S_ISGID)
        self._umask = _current_umask()

    def _refuse(self, name: str, reason: str) -> InvalidArgument:
        return InvalidArgument(f"can't unpack layer: {self.layer}: entry {name!r}: {reason}")

    def _path(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel else self.root

    def apply(self, tar: TarReader, member: TarEntry) -> None:
        if self._guard is not None:
            self._guard.charge(member.size if member.isreg() else 0)
        rel = clean_entry_name(member.name, self.layer)
        if not rel:
            return  # the root entry: the diff dir keeps its own metadata
        base = posixpath.basename(rel)
        if base.startswith(WHITEOUT_PREFIX):
            self._apply_whiteout(rel, base)
            return
        self._ensure_parents(rel)
        if member.isdir():
            self._apply_dir(rel, member)
        elif member.isreg():
            self._apply_file(tar, rel, member)
        elif member.issym():
            self._apply_symlink(rel, member)
        elif member.islnk():
            self._apply_hardlink(rel, member)
        elif member.isfifo() or member.ischr() or member.isblk():
            self._apply_special(rel, member)
        else:
            logger.debug("layer %s: skipping %r of unknown type %r", self.layer, member.name, member.type)

    def _ensure_parents(self, rel: str, create: bool = True) -> None:
        """Make the parents of rel real dirs; refuse a parent that is a symlink or a file."""
        parent = posixpath.dirname(rel)
        if parent in self._real_dirs:
            return
        current = ""
        for component in parent.split("/"):
            current = posixpath.join(current, component) if current else component
            if current in self._real_dirs:
                continue
            path = self._path(current)
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                if not create:
                    raise self._refuse(rel, "target does not exist in this layer") from None
                os.mkdir(path)
                os.chmod(path, 0o755)  # docker's mode for a parent the tar does not list, whatever the umask
                self._real_dirs.add(current)
                continue
            if stat.S_ISLNK(info.st_mode):
                raise self._refuse(rel, f"parent {current!r} is a symlink")
            if not stat.S_ISDIR(info.st_mode):
                raise self._refuse(rel, f"parent {current!r} is not a directory")
            self._real_dirs.add(current)

    def _clear(self, rel: str, keep_dir: bool = False) -> None:
        """Remove what this layer put at rel before (tar order: the last entry wins)."""
        path = self._path(rel)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(info.st_mode):
            if keep_dir:
                return
            remove_tree(path)
            self._real_dirs = {d for d in self._real_dirs if d != rel and not d.startswith(rel + "/")}
        else:
            os.unlink(path)

    def _create(self, rel: str, make: Callable[[str], _T]) -> _T:
        """make(path) without an lstat first; when something is there (EEXIST) clear it and retry.

        Every maker fails with EEXIST on any existing entry, a symlink included
        (open(2) O_CREAT|O_EXCL, mkdir(2), symlink(2), link(2), mknod(2)), so a
        create never follows a symlink and the last entry for a path still wins.
        """
        path = self._path(rel)
        try:
            return make(path)
        except FileExistsError:
            self._clear(rel)
            return make(path)

    def _apply_dir(self, rel: str, member: TarEntry) -> None:
        path = self._path(rel)
        fresh = True
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            self._clear(rel, keep_dir=True)
            fresh = not os.path.lexists(path)
            if fresh:
                os.mkdir(path, 0o700)
        self._real_dirs.add(rel)
        self._owner.chown(path, member, fresh)
        _set_xattrs(path, member, self.layer)
        # mode and mtime last: adding entries changes a dir's mtime, and 0555 dirs block them
        self._dirs.append((rel, member.mode, member.mtime))

    def _apply_file(self, tar: TarReader, rel: str, member: TarEntry) -> None:
        # Created with its final permission bits where the umask keeps them: saves an fchmod.
        mode_at_open = member.mode & 0o777
        needs_chmod = member.mode != mode_at_open or mode_at_open & self._umask != 0
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = self._create(rel, lambda path: os.open(path, flags, mode_at_open if not needs_chmod else 0o600))
        try:
            _write_member_data(tar, fd)
            self._owner.chown(fd, member, fresh=True)  # before chmod: chown clears setuid/setgid
            if needs_chmod:
                os.chmod(fd, member.mode)
            _set_xattrs(fd, member, self.layer)
            os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)
        self.size += member.size

    def _apply_symlink(self, rel: str, member: TarEntry) -> None:
        path = self._path(rel)
        self._create(rel, lambda target: os.symlink(member.linkname, target))
        self._owner.chown(path, member, fresh=True)
        _set_xattrs(path, member, self.layer)
        os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)

    def _apply_hardlink(self, rel: str, member: TarEntry) -> None:
        target_rel = clean_entry_name(member.linkname, self.layer, what=f"hardlink {member.name!r} ->")
        if not target_rel or target_rel == rel:
            raise self._refuse(member.name, f"bad hardlink target {member.linkname!r}")
        self._ensure_parents(target_rel, create=False)
        target = self._path(target_rel)
        try:
            is_dir = stat.S_ISDIR(os.lstat(target).st_mode)
        except FileNotFoundError:
            raise self._refuse(member.name, f"hardlink target {member.linkname!r} is not in this layer") from None
        if is_dir:
            raise self._refuse(member.name, f"hardlink target {member.linkname!r} is a directory")
        self._clear(rel)
        os.link(target, self._path(rel), follow_symlinks=False)

    def _apply_special(self, rel: str, member: TarEntry) -> None:
        self._clear(rel)
        path = self._path(rel)
        try:
            if member.isfifo():
                os.mkfifo(path, 0o600)
            else:
                kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
                os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        except PermissionError:
            # Only 0/0 devices may be made in a user namespace; runtimes bind /dev anyway.
            logger.debug("layer %s: skipping device %r (not permitted)", self.layer, member.name)
            return
        self._owner.chown(path, member)
        os.chmod(path, member.mode)
        os.utime(path, (member.mtime, member.mtime))

    def _apply_whiteout(self, rel: str, base: str) -> None:
        parent = posixpath.dirname(rel)
        if base == OPAQUE_MARKER:
            self._ensure_parents(rel)
            os.setxattr(self._path(parent), OPAQUE_XATTR, b"y", follow_symlinks=False)
            return
        if base.startswith(META_PREFIX):
            return  # aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not content
        target = posixpath.join(parent, base[len(WHITEOUT_PREFIX):])
        self._ensure_parents(target)
        self._clear(target)
        try:
            os.mknod(self._path(target), stat.S_IFCHR | 0o000, os.makedev(0, 0))
        except PermissionError as exc:
            raise FailedPrecondition(
                f"can't unpack layer: {self.layer}: can't create whiteout {target!r}: {exc.strerror}",
                hint="layers are unpacked as root of the engine's user namespace (Linux >= 5.8)",
            ) from exc

    def finish(self) -> None:
        """Apply directory modes and mtimes, deepest first."""
        for rel, mode, mtime in reversed(self._dirs):
            path = self._path(rel)
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISDIR(os.lstat(path).st_mode):
                    os.chmod(path, mode)
                    os.utime(path, (mtime, mtime), follow_symlinks=False)


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_member_data(tar: TarReader, fd: int) -> None:
    """Copy a regular member's data to fd with os.write: no file object, no copy of the data."""
    for piece in tar.data():
        _write_fully(fd, piece)


def _write_fully(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view):]


class _Owner:
    """lchown to the tar's ids where this process can; otherwise keep ours."""

    def __init__(self, fresh_ids_are_ours: bool = False) -> None:
        self._warned = False
        # Most entries of a layer are root's, and so is the unpacker in the engine's namespace:
        # a new inode then has the right ids already, and ~10k fchown calls of a distro layer go.
        self._ours = (os.geteuid(), os.getegid()) if fresh_ids_are_ours else None

    def chown(self, target: Union[int, str], member: TarEntry, fresh: bool = False) -> None:
        """fresh: target was just created by this process (so it has our fsuid/fsgid)."""
        if fresh and self._ours == (member.uid, member.gid):
            return
        try:
            if isinstance(target, int):
                os.fchown(target, member.uid, member.gid)
            else:
                os.lchown(target, member.uid, member.gid)
        except OSError as exc:
            # EINVAL: the id is not mapped in this namespace; EPERM: not root here.
            if exc.errno not in (errno.EPERM, errno.EINVAL):
                raise
            if not self._warned:
                logger.warning("can't chown %r to %d:%d (%s): keeping the unpacker's ids",
                               member.name, member.uid, member.gid, exc.strerror)
                self._warned = True


def _set_xattrs(target: Union[int, str], member: TarEntry, layer_name: str) -> None:
    """PAX SCHILY.xattr.* records, minus overlay bookkeeping a layer must not forge."""
    for key, value in member.pax_headers.items():
        if not key.startswith(XATTR_PAX_PREFIX):
            continue
        name = key[len(XATTR_PAX_PREFIX):]
        if name.startswith(PRIVATE_XATTR_PREFIXES):
            logger.warning("layer %s: dropping xattr %s of %r", layer_name, name, member.name)
            continue
        data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
        try:
            if isinstance(target, int):
                os.setxattr(target, name, data)
            else:
                os.setxattr(target, name, data, follow_symlinks=False)
        except OSError as exc:
            # trusted.* needs real root; user.* is refused on symlinks; some fs lack xattrs.
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EACCES, errno.EOPNOTSUPP):
                raise
            logger.debug("layer %s: can't set xattr %s on %r: %s", layer_name, name, member.name, exc.strerror)
