"""COPY and ADD: pick sources, hash them for the cache, write them into a build rootfs.

Sources come from a tree we only read (the extracted context, or another
stage's rootfs) and are read through util/confined.py without following a
symlink out of that tree; the destination is a build container's rootfs,
written only with *at calls on confined parent dirfds, so a symlink in the
image (``/dest -> /etc``) resolves inside the rootfs, never on the host.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

from rootless.errors import InvalidArgument
from rootless.util import confined, confined_tar

GLOB_CHARS = "*?["
ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


@dataclass(frozen=True)
class SourceItem:
    """One path to copy: where it is in the source tree and its name relative to the copy's top."""

    path: str          # inside the source tree, "/"-rooted
    rel: str           # "" for the top of a copied file/dir, else below it
    info: os.stat_result
    top: str           # the matched source (for the file-or-directory destination rule)


def has_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in GLOB_CHARS)


def _clean(path: str) -> str:
    parts: List[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def match_sources(tree: confined.Root, pattern: str) -> List[str]:
    """The paths of the tree a COPY source names (``*`` stays in one component, as Go's filepath.Match)."""
    cleaned = _clean(pattern)
    if not has_glob(cleaned):
        try:
            tree.lstat(cleaned)
        except OSError:
            return []
        return [cleaned]
    wanted = [p for p in cleaned.split("/") if p]
    found = ["/"]
    for part in wanted:
        nxt = []
        for directory in found:
            try:
                with confined.closing(tree.open_dir(directory, follow=False)) as fd:
                    names = sorted(os.listdir(fd))
            except OSError:
                continue
            nxt += [directory.rstrip("/") + "/" + n for n in names if fnmatch.fnmatchcase(n, part)]
        found = nxt
    return found


def expand_item(tree: confined.Root, path: str) -> Iterator[SourceItem]:
    """The item at path and, for a directory, everything below it (parents first, sorted)."""
    info = tree.lstat(path)
    yield SourceItem(path, "", info, path)
    if stat.S_ISDIR(info.st_mode):
        with confined.closing(tree.open_dir(path, follow=False)) as fd:
            for rel, child in confined.walk(fd):
                yield SourceItem(path.rstrip("/") + "/" + rel, rel, child, path)


def hash_items(tree: confined.Root, items: Sequence[SourceItem]) -> str:
    """A digest of names, types, modes and contents (never mtimes, owners or the tree's location)."""
    digest = hashlib.sha256()
    for item in items:
        mode = item.info.st_mode
        digest.update(f"{item.top}\0{item.rel}\0{stat.S_IFMT(mode)}\0{stat.S_IMODE(mode):o}\0".encode())
        if stat.S_ISLNK(mode):
            digest.update(tree.readlink(item.path).encode("utf-8", "surrogateescape"))
        elif stat.S_ISREG(mode):
            with os.fdopen(tree.open(item.path, os.O_RDONLY, follow=False), "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()


def is_archive(tree: confined.Root, path: str) -> bool:
    """ADD's test: a compressed stream or a tar header (ustar magic at 257)."""
    with os.fdopen(tree.open(path, os.O_RDONLY, follow=False), "rb") as f:
        head = f.read(512)
    return head.startswith(ARCHIVE_MAGIC) or head[257:262] == b"ustar"


@dataclass(frozen=True)
class Ownership:
    """--chown (uid, gid) or None for root; --chmod bits or None to keep the source's."""

    uid: int = 0
    gid: int = 0
    mode: Optional[int] = None


def destination_of(item: SourceItem, dest: str, dest_is_dir: bool) -> str:
    """Where item lands: a directory's contents go into dest; a file into dest/ or as dest."""
    top_is_dir = stat.S_ISDIR(item.info.st_mode) if item.rel == "" else True
    if item.rel == "":
        if top_is_dir:
            return dest
        return dest.rstrip("/") + "/" + os.path.basename(item.path) if dest_is_dir else dest
    return dest.rstrip("/") + "/" + item.rel


def copy_item(tree: confined.Root, item: SourceItem, target: confined.Root, dest: str, owner: Ownership) -> None:
    """Create one item at dest in the target rootfs (replacing a non-directory in the way)."""
    mode = item.info.st_mode
    bits = owner.mode if owner.mode is not None else stat.S_IMODE(mode)
    if stat.S_ISDIR(mode):
        with confined.closing(target.makedirs(dest)):
            pass
        with confined.closing(target.open_dir(dest)) as fd:
            os.fchown(fd, owner.uid, owner.gid)
            os.fchmod(fd, bits)
        return
    parent_path, name = confined.split(dest)
    with confined.closing(target.makedirs(parent_path)) as parent:
        if stat.S_ISLNK(mode):
            confined.unlink_non_dir(parent, name)
            os.symlink(tree.readlink(item.path), name, dir_fd=parent)
            os.chown(name, owner.uid, owner.gid, dir_fd=parent, follow_symlinks=False)
            return
        if not stat.S_ISREG(mode):
            return  # devices, fifos, sockets: docker's context never carries them
        with os.fdopen(tree.open(item.path, os.O_RDONLY, follow=False), "rb") as source, \
                os.fdopen(confined.create_file(parent, name, 0o600), "wb") as out:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                out.write(chunk)
            out.flush()
            os.fchown(out.fileno(), owner.uid, owner.gid)
            os.fchmod(out.fileno(), bits)  # after the chown, which clears set-id bits
            os.utime(out.fileno(), ns=(item.info.st_atime_ns, item.info.st_mtime_ns))


def extract_archive(tree: confined.Root, path: str, target: confined.Root, dest: str,
                    owner: Optional[Tuple[int, int]]) -> None:
    """ADD of a local tar: unpack it into dest, owned by --chown's ids, else by root.

    (docker keeps the archive's owners; util/confined_tar.py's extractor can't yet.)
    """
    with confined.closing(target.makedirs(dest)):
        pass
    with os.fdopen(tree.open(path, os.O_RDONLY, follow=False), "rb") as source:
        confined_tar.extract(target, dest, source, False, owner)


def is_dir_in(target: confined.Root, path: str) -> bool:
    try:
        return stat.S_ISDIR(target.stat(path).st_mode)
    except OSError:
        return False


def check_sources(patterns: Sequence[str], matches: Sequence[Tuple[str, List[str]]]) -> None:
    """docker's errors for sources that match nothing."""
    for pattern, found in matches:
        if not found:
            if has_glob(pattern):
                raise InvalidArgument(f"COPY failed: no source files were specified (pattern {pattern!r})")
            raise InvalidArgument(f"COPY failed: file not found in build context or excluded by .dockerignore: "
                                  f"stat {pattern.lstrip('/')}: file does not exist")
    del patterns
