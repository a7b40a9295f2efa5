"""Subordinate id ranges from /etc/subuid and /etc/subgid."""
from __future__ import annotations

import pwd
from dataclasses import dataclass
from typing import List, Optional, Tuple


@dataclass(frozen=True)
class IdRange:
    """A contiguous block of host ids delegated to the user."""

    start: int
    count: int


def parse_subid_file(text: str, user: str, uid: int) -> List[IdRange]:
    """The ranges in a subuid/subgid file that belong to user (by name or uid)."""
    ranges: List[IdRange] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3:
            continue
        owner, start, count = parts
        if owner not in (user, str(uid)):
            continue
        try:
            ranges.append(IdRange(int(start), int(count)))
        except ValueError:
            continue
    return ranges


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def lookup_ranges(path: str, uid: int) -> List[IdRange]:
    """The user's ranges in path; empty when the file or entry is missing."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    return parse_subid_file(text, user_name(uid), uid)


def lookup_user_ranges(uid: int) -> Tuple[Optional[IdRange], Optional[IdRange]]:
    """The first subuid and subgid range of a user, or None for each missing one."""
    uids = lookup_ranges("/etc/subuid", uid)
    gids = lookup_ranges("/etc/subgid", uid)
    return (uids[0] if uids else None, gids[0] if gids else None)
