"""A container's changes, read from a driver's upper dir (see whiteouts.py).

write_layer_tar() turns the upper dir into an OCI layer (image-spec
layer.md: a deleted path becomes an empty `.wh.<name>`, an opaque dir gets an
empty `.wh..wh..opq` entry) for docker commit and build; list_changes() gives
docker diff's view (Kind 0 changed, 1 added, 2 deleted). Both run inside the
engine's user namespace, where file owners are the container's ids.
"""
from __future__ import annotations

import errno
import io
import os
import stat
import tarfile
from typing import IO, AbstractSet, Any, Dict, Iterator, List, Sequence, Tuple

from rootless.runtime.storage import whiteouts
from rootless.runtime.storage.vfs import index_lowers
from rootless.util import confined

WHITEOUT_PREFIX = ".wh."
KIND_CHANGED, KIND_ADDED, KIND_DELETED = 0, 1, 2


def walk_upper(upper: str) -> Iterator[Tuple[str, str, os.stat_result]]:
    """(relative path, full path, lstat) of every entry, parents first, sorted, markers skipped.

    The container writes the upper dir while we read it: the walk goes by fds
    (util/confined.py), so a directory swapped for a symlink is never entered.
    """
    with confined.Root(upper, symlinks=False) as root, confined.closing(root.open_dir("/")) as top:
        for rel, info in confined.walk(top):
            if not whiteouts.is_internal_name(os.path.basename(rel)):
                yield rel, os.path.join(upper, rel), info


def _marker(arcname: str, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(arcname)
    info.mtime = int(mtime)
    info.mode = 0o644
    return info


def _public_xattrs(path: str) -> Dict[str, str]:
    """PAX SCHILY.xattr.* headers for the xattrs a layer should carry."""
    headers = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    for name in names:
        if whiteouts.is_private_xattr(name):
            continue
        value = os.getxattr(path, name, follow_symlinks=False)
        headers["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return headers


def _add_entry(tar: tarfile.TarFile, root: confined.Root, full: str, rel: str) -> None:
    info = tar.gettarinfo(full, arcname=rel)
    if info is None:  # a socket: layers cannot carry one
        return
    if info.isreg():
        # Opened below the upper dir with no symlink on the way, the header taken from what was
        # opened: a file swapped for a symlink since the lstat can't make us read a host file.
        with os.fdopen(root.open(rel, os.O_RDONLY | os.O_NONBLOCK, follow=False), "rb") as data:
            opened = tar.gettarinfo(arcname=rel, fileobj=data)
            if opened is None or not opened.isreg():
                raise OSError(errno.EAGAIN, "changed while being read", full)
            _finish_info(opened, full)
            tar.addfile(opened, data)
        return
    _finish_info(info, full)
    tar.addfile(info)


def _finish_info(info: tarfile.TarInfo, full: str) -> None:
    info.uname = info.gname = ""
    # typeshed declares pax_headers a read-only Mapping; assign a new dict rather than mutate it.
    info.pax_headers = {**info.pax_headers, **_public_xattrs(full)}


def write_layer_tar(upper: str, out: IO[bytes], skip: AbstractSet[str] = frozenset()) -> None:
    """Write the changes in upper as an uncompressed OCI layer tar to out, without the paths in skip.

    (skip: relative paths such as "etc/hosts", entries the caller knows are not the container's changes.)
    """
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar, \
            confined.Root(upper, symlinks=False) as root:
        for rel, full, info in walk_upper(upper):
            if rel in skip:
                continue
            if whiteouts.is_whiteout(info):
                parent, name = os.path.split(rel)
                tar.addfile(_marker(os.path.join(parent, WHITEOUT_PREFIX + name), info.st_mtime))
                continue
            _add_entry(tar, root, full, rel)
            if stat.S_ISDIR(info.st_mode) and whiteouts.is_opaque_dir(full):
                tar.addfile(_marker(os.path.join(rel, whiteouts.AUFS_OPAQUE), info.st_mtime))


def layer_tar_bytes(upper: str, skip: AbstractSet[str] = frozenset()) -> bytes:
    """write_layer_tar into memory (small layers, tests)."""
    buffer = io.BytesIO()
    write_layer_tar(upper, buffer, skip)
    return buffer.getvalue()


def list_changes(upper: str, lowers: Sequence[str]) -> List[Dict[str, Any]]:
    """docker diff: [{"Path": "/etc/x", "Kind": 0|1|2}], sorted by path."""
    below = index_lowers(lowers)
    result = []
    for rel, _full, info in walk_upper(upper):
        if whiteouts.is_whiteout(info):
            kind = KIND_DELETED
        else:
            kind = KIND_CHANGED if rel in below else KIND_ADDED
        result.append({"Path": "/" + rel, "Kind": kind})
    return sorted(result, key=lambda change: change["Path"])
