"""Resolve a docker `--user` string against the image's /etc/passwd and /etc/group.

The rootfs is untrusted: its /etc/passwd may be a symlink aimed at the host.
Files are opened through util/confined.py (openat2 RESOLVE_IN_ROOT): symlinks,
absolute or relative, and `..` are resolved by the kernel as if the rootfs
were `/`, the way runc's user.GetExecUser is fed by moby through securejoin.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

from rootless.errors import InvalidArgument
from rootless.util.confined import Root

MAX_ID = 2**31 - 1
MAX_FILE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ExecUser:
    """What the container process runs as."""

    uid: int
    gid: int
    additional_gids: Tuple[int, ...] = ()
    home: str = "/"


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: Tuple[str, ...]


def read_rootfs_file(rootfs: str, path: str) -> Optional[str]:
    """Text of a file inside rootfs, or None when it is missing or not a regular file."""
    try:
        with Root(rootfs) as root:
            data = root.read_file(path, MAX_FILE_BYTES)
    except OSError as exc:
        raise InvalidArgument(f"can't read {path} in rootfs: {exc.strerror}") from None
    return None if data is None else data.decode("utf-8", "replace")


def _int_field(text: str) -> Optional[int]:
    return int(text) if text.isdigit() else None


def parse_passwd(text: str) -> Iterator[PasswdEntry]:
    """Entries of a passwd file; malformed lines are skipped as libc does."""
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 4 or line.startswith("#"):
            continue
        uid, gid = _int_field(fields[2]), _int_field(fields[3])
        if uid is None or gid is None:
            continue
        home = fields[5] if len(fields) > 5 and fields[5] else "/"
        yield PasswdEntry(fields[0], uid, gid, home)


def parse_group(text: str) -> Iterator[GroupEntry]:
    """Entries of a group file."""
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 3 or line.startswith("#"):
            continue
        gid = _int_field(fields[2])
        if gid is None:
            continue
        members = tuple(m for m in (fields[3].split(",") if len(fields) > 3 else []) if m)
        yield GroupEntry(fields[0], gid, members)


def _checked_id(text: str, kind: str) -> int:
    value = int(text)
    if value > MAX_ID:
        raise InvalidArgument(f"invalid {kind} {text}: out of range (max {MAX_ID})")
    return value


def _find_user(name: str, passwd: List[PasswdEntry]) -> Optional[PasswdEntry]:
    """By uid when the string is numeric, else by name (runc's GetExecUser filter)."""
    if name.isdigit():
        uid = int(name)
        return next((e for e in passwd if e.uid == uid), None)
    return next((e for e in passwd if e.name == name), None)


def _find_group_id(name: str, groups: List[GroupEntry]) -> int:
    if name.isdigit():
        return _checked_id(name, "gid")
    for entry in groups:
        if entry.name == name:
            return entry.gid
    raise InvalidArgument(f"unable to find group {name}: no matching entries in group file")


def _supplementary(user_name: Optional[str], group_add: Sequence[str], groups: List[GroupEntry]) -> Tuple[int, ...]:
    """Groups listing the user as a member, then --group-add ones, without repeats."""
    gids: List[int] = []
    if user_name:
        gids = [g.gid for g in groups if user_name in g.members]
    gids += [_find_group_id(name, groups) for name in group_add]
    return tuple(dict.fromkeys(gids))


def resolve_user(rootfs: str, user: str, group_add: Sequence[str] = ()) -> ExecUser:
    """uid, gid, supplementary gids and home for a docker user string.

    Accepted forms: "", "name", "uid", "name:group", "uid:gid" (any mix).
    """
    user_part, _, group_part = (user or "").partition(":")
    user_part = user_part or "0"
    passwd = list(parse_passwd(read_rootfs_file(rootfs, "/etc/passwd") or ""))
    groups = list(parse_group(read_rootfs_file(rootfs, "/etc/group") or ""))
    entry = _find_user(user_part, passwd)
    if entry is None and not user_part.isdigit():
        raise InvalidArgument(f"unable to find user {user_part}: no matching entries in passwd file")
    uid = entry.uid if entry else _checked_id(user_part, "uid")
    gid = entry.gid if entry else 0
    if group_part:
        gid = _find_group_id(group_part, groups)
    additional = _supplementary(entry.name if entry else None, group_add, groups)
    return ExecUser(uid=uid, gid=gid, additional_gids=additional, home=entry.home if entry else "/")
