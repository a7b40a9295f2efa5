"""A container's files from outside: docker cp (archive), export, changes, top.

A container's files are hostile, and a running container can swap any of them
for a symlink at any moment. Everything here goes through util/confined.py:
paths are resolved by the kernel inside the rootfs (openat2 RESOLVE_IN_ROOT),
trees are read by walking fds (each entry opened once without following a
symlink, its header taken from that fd), and extraction creates each entry
with *at calls relative to a confined parent dirfd, replacing (never writing
through) a symlink in the last component (util/confined_tar.py). See issue 7
and CVE-2018-15664.

Paths are those of the container's own view, mounts included (issue 11): a
running container is reached through /proc/<pid>/root, whose lookups cross
the mounts of its mount namespace (volumes, binds, tmpfs, the /etc files)
exactly as the container sees them, RESOLVE_IN_ROOT keeping every symlink and
".." inside that view. A stopped one has no mount namespace left: a View maps
a path to the mount with the longest destination prefix (its host source) or
else the rootfs, and resolves the rest inside that tree alone, so a symlink
in a volume stays in the volume (never the host). No fork, setns or chroot
is needed for either, which keeps the threaded daemon safe.
"""
from __future__ import annotations

import copy
import datetime
import errno
import os
import posixpath
import stat
import tarfile
from dataclasses import dataclass, field
from typing import IO, Any, Dict, FrozenSet, Iterator, List, Tuple

from rootless.engine.container_model import MountPoint
from rootless.errors import Conflict, InvalidArgument, NotFound
from rootless.util import confined, confined_tar
from rootless.util.confined import Root

MISSING = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)
KERNEL_FILESYSTEMS = ("/proc", "/sys", "/dev")  # mounted by the runtime in a running container


@dataclass(frozen=True)
class Source:
    """What serves a mount destination of a stopped container: a host dir or file."""

    path: str
    read_only: bool = False


@dataclass(frozen=True)
class View:
    """A container's files as the container sees them (see the module docstring).

    root: the rootfs, or /proc/<pid>/root of a running container (mounts then
    come with it and the table is empty); mounts: destination -> Source.
    """

    root: str
    mounts: Dict[str, Source] = field(default_factory=dict)
    live: bool = False

    def place(self, container_path: str) -> Tuple[str, str, bool]:
        """(tree to resolve in, path inside it, read-only) for a container path."""
        clean = posixpath.normpath("/" + container_path.lstrip("/"))  # (normpath keeps a leading "//")
        best = ""
        for destination in self.mounts:
            if (clean == destination or clean.startswith(destination.rstrip("/") + "/")) \
                    and len(destination) > len(best):
                best = destination
        slash = "/" if container_path.endswith(("/", "/.")) and clean != "/" else ""  # "dir/": a directory
        if not best:
            return self.root, clean + slash, False
        source = self.mounts[best]
        rest = clean[len(best):].lstrip("/")
        if not os.path.isdir(source.path):  # a file bound over a path: only itself is reachable
            if rest:
                return source.path, rest, source.read_only  # ENOTDIR from the Root: "not found"
            return posixpath.dirname(source.path), posixpath.basename(source.path) + slash, source.read_only
        return source.path, "/" + rest + (slash if rest else ""), source.read_only


    def below(self, container_path: str, arcname: str) -> Dict[str, str]:
        """arcname of each mount strictly below a copied directory -> its source (a stopped view's splice)."""
        top = posixpath.normpath("/" + container_path.lstrip("/")).rstrip("/")
        return {f"{arcname}/{destination[len(top) + 1:]}": source.path for destination, source in self.mounts.items()
                if destination.startswith(top + "/")}


    def hidden(self, container_path: str, arcname: str) -> FrozenSet[str]:
        """A live view's kernel filesystems below a copied directory: taken empty, as docker's view has them.

        (dockerd's view is the rootfs with the volumes; /proc, /sys and /dev
        are the image's directories. Named directly they are still read.)
        """
        if not self.live:
            return frozenset()
        top = posixpath.normpath("/" + container_path.lstrip("/")).rstrip("/")
        return frozenset(f"{arcname}/{path[len(top) + 1:]}" for path in KERNEL_FILESYSTEMS
                         if path.startswith(top + "/"))


def mount_table(mounts: List[MountPoint], etc_files: Dict[str, str]) -> Dict[str, Source]:
    """A stopped container's mounts: docker's MountPoints over the engine's /etc files.

    tmpfs mounts are not listed: a stopped container has none, so its path is
    the rootfs one beneath, as docker shows it.
    """
    table = {destination: Source(path) for destination, path in etc_files.items() if os.path.exists(path)}
    for mount in mounts:
        if mount.type in ("bind", "volume") and mount.destination and mount.source:
            table[posixpath.normpath(mount.destination)] = Source(mount.source, mount.read_only)
    return table


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


def path_stat(view: View, container_path: str, container_name: str) -> Dict[str, Any]:
    """docker cp's stat header (HEAD /containers/{id}/archive) of a path in the container."""
    tree, inner, _ = view.place(container_path)
    with _root(tree, container_path, container_name) as root:
        try:
            fd = root.open(inner, os.O_PATH, follow=follows_last(container_path))
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


def _root(tree: str, container_path: str, container_name: str) -> Root:
    """The tree a path lives in, opened; a file-mount's source taken as a missing dir below it."""
    try:
        return Root(tree)
    except OSError as exc:
        if exc.errno in MISSING:
            raise NotFound(f"Could not find the file {container_path} in container {container_name}") from None
        raise


def tar_stream(view: View, container_path: str, arcname: str) -> Iterator[bytes]:
    """A tar of a container path (recursively) named arcname, streamed in pieces.

    arcname "" is an export: the tree's entries without one for its top.
    """
    tree, inner, _ = view.place(container_path)
    with _root(tree, container_path, "") as root:
        try:
            yield from confined_tar.tar_chunks(root, inner, arcname, follows_last(container_path),
                                               view.below(container_path, arcname) if arcname else None,
                                               view.hidden(container_path, arcname) if arcname else frozenset())
        except FileNotFoundError:
            raise NotFound(f"Could not find the file {container_path} in container") from None


def extract_into(view: View, container_dir: str, body: IO[bytes], no_overwrite_dir_non_dir: bool,
                 owner: Tuple[int, int] = (0, 0)) -> None:
    """Extract a tar body into a directory of the container (PUT /containers/{id}/archive).

    Entries are confined to the rootfs (parents resolved inside it), names that
    climb out of container_dir are refused, and whatever is in the way of an
    entry (a symlink to a host file, say) is replaced, never written through.
    Every entry belongs to owner (the container's root unless docker cp -a),
    as dockerd does: ids in the tar are the client's, not the container's.
    """
    tree, inner, read_only = view.place(container_dir)
    if read_only:
        raise Conflict(f"can't copy into {container_dir}: the mount there is read-only",
                       hint="docker cp can't write into a read-only volume or bind mount")
    with _root(tree, container_dir, "") as root:
        try:
            st = root.stat(inner)
        except OSError as exc:
            if exc.errno in MISSING:
                raise NotFound(f"Could not find the file {container_dir} in container") from None
            raise
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidArgument(f"extraction point is not a directory: {container_dir}")
        if not view.below(container_dir, "."):
            confined_tar.extract(root, inner, body, no_overwrite_dir_non_dir, owner)
            return
    with Router(view, container_dir, no_overwrite_dir_non_dir, owner) as router, \
            tarfile.open(fileobj=body, mode="r|*") as tar:
        for member in tar:
            router.extract(tar, member)


class Router:
    """Each entry of a tar extracted into the tree of the mount it falls in.

    For a stopped container whose extraction directory has mounts below it
    (docker cp dir box:/ with a volume at /data): data/x belongs in the volume,
    not in the rootfs directory it hides. Paths are placed lexically, as the
    View places them; a hard link may not join two trees (EXDEV in a container).
    """

    def __init__(self, view: View, container_dir: str, no_overwrite_dir_non_dir: bool,
                 owner: Tuple[int, int]) -> None:
        self.view, self.base = view, posixpath.normpath("/" + container_dir.lstrip("/"))
        self.no_overwrite, self.owner = no_overwrite_dir_non_dir, owner
        self.trees = {view.root} | {source.path for source in view.mounts.values()}
        self.extractors: Dict[str, Tuple[Root, confined_tar.Extractor]] = {}

    def __enter__(self) -> "Router":
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        for root, extractor in self.extractors.values():
            if kind is None:
                extractor.finish()
            root.close()

    def place(self, name: str) -> Tuple[str, str]:
        path = posixpath.join(self.base, confined_tar.entry_name(name))
        tree, inner, read_only = self.view.place(path)
        if read_only:
            raise Conflict(f"can't copy into {path}: the mount there is read-only",
                           hint="docker cp can't write into a read-only volume or bind mount")
        if tree not in self.trees:  # a file bound over a path: the engine's /etc files, rewritten at start
            raise InvalidArgument(f"can't copy into {path} while the container is stopped: a file is mounted there",
                                  hint="start the container, then copy")
        return tree, inner.lstrip("/") or "."

    def extract(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        tree, name = self.place(member.name)
        if name == "." and not member.isdir():
            raise InvalidArgument(f"can't extract {member.name}: a mount is there, not replaceable by a file")
        routed = copy.copy(member)
        routed.name = name
        if member.islnk():
            link_tree, routed.linkname = self.place(member.linkname)
            if link_tree != tree:
                raise InvalidArgument(f"can't extract {member.name}: a hard link to {member.linkname} "
                                      "would cross a mount")
        if tree not in self.extractors:
            root = Root(tree)
            self.extractors[tree] = (root, confined_tar.Extractor(root, "", self.no_overwrite, self.owner))
        self.extractors[tree][1].extract(tar, routed)
