"""--userns=keep-id (podman's) for one container: its own user namespace where the user keeps its ids.

Every container runs in the engine's user namespace by default, where
container root is the user. keep-id nests a user namespace for the container
(host/userns.py KeepId) in which container uid U (the user's own uid unless
keep-id:uid= says otherwise) is the user, so what the process writes into a
bind mount of $HOME belongs to the user on the host. As podman does, the
process runs as U:G unless --user says otherwise, and /etc/passwd and
/etc/group get entries for the user when the image has none.

The image's files are stored with the engine's ids; seen through the nested
namespace they would shift by one. The kernel can't idmap an overlay that a
user namespace mounted, so a keep-id container's rootfs is a fuse-overlayfs
that shows each stored id d as the engine id of container id d.
"""
from __future__ import annotations

import dataclasses
import errno
import logging
import os
import pwd
import stat
from typing import List, Optional, Tuple

from rootless.engine.container_model import Container
from rootless.engine.container_runtime import IdShift
from rootless.errors import FailedPrecondition, InvalidArgument
from rootless.host import userns
from rootless.host.userns import IdMap, KeepId
from rootless.runtime.spec import SpecOptions
from rootless.util import confined

logger = logging.getLogger(__name__)
PASSWD_LIMIT = 1 << 20


def keep_id_of(container: Container) -> Optional[KeepId]:
    """The container's keep-id maps, None for the default mapping. Raises InvalidArgument, FailedPrecondition."""
    mode = container.userns_mode
    if not mode:
        return None
    if mode == "host":
        raise InvalidArgument("invalid userns mode: host: an unprivileged engine has no host user namespace to "
                              "give; every container already runs in the user's own")
    uid, gid = userns.parse_keep_id(mode)
    return userns.keep_id(userns.current_mapping(), uid, gid)


def rootfs_shift(keep: Optional[KeepId]) -> Optional[IdShift]:
    """Stored id d shown as the engine id that container id d is: the keep-id maps themselves."""
    if keep is None:
        return None
    return _triples(keep.uids), _triples(keep.gids)


def _triples(maps: Tuple[IdMap, ...]) -> List[Tuple[int, int, int]]:
    return [(m.inside, m.outside, m.count) for m in maps]


def apply(container: Container, options: SpecOptions) -> SpecOptions:
    """The spec options of a keep-id container: its maps, the user by default, its passwd entry."""
    keep = keep_id_of(container)
    if keep is None:
        return options
    add_user_entries(options.rootfs, keep)
    return dataclasses.replace(options, user=options.user or f"{keep.uid}:{keep.gid}",
                               uid_mappings=_triples(keep.uids), gid_mappings=_triples(keep.gids))


def add_user_entries(rootfs: str, keep: KeepId) -> None:
    """podman's keep-id passwd and group lines for the user, appended when the image has no such ids."""
    host = userns.current_mapping()
    try:
        entry = pwd.getpwuid(next(m.outside for m in host.uids if m.inside == 0))
        name, home = entry.pw_name, entry.pw_dir
    except (KeyError, StopIteration):
        name, home = "user", "/"
    with confined.Root(rootfs) as root:
        _append_if_missing(root, "/etc/passwd", keep.uid, 2, f"{name}:*:{keep.uid}:{keep.gid}:{name}:{home}:/bin/sh")
        _append_if_missing(root, "/etc/group", keep.gid, 2, f"{name}:x:{keep.gid}:")


def _append_if_missing(root: confined.Root, path: str, wanted: int, field: int, line: str) -> None:
    """Append line to the rootfs's file unless a line has id wanted in that field (no file: nothing)."""
    try:
        text = root.read_file(path, PASSWD_LIMIT)
    except OSError as exc:
        raise FailedPrecondition(f"--userns=keep-id: read {path}: {exc.strerror}") from None
    if text is None:
        return
    for existing in text.decode(errors="replace").splitlines():
        fields = existing.split(":")
        if len(fields) > field and fields[field] == str(wanted):
            return
    try:
        fd = root.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.EROFS:
            return  # --read-only: the image's file as it is
        raise FailedPrecondition(f"--userns=keep-id: write {path}: {exc.strerror}") from None
    with confined.closing(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.write(fd, (("\n" if text and not text.endswith(b"\n") else "") + line + "\n").encode())
