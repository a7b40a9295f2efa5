"""Docker Engine API versions: the /vX.Y/ path prefix and comparing "1.44"-style versions.

Compared as docker's api/types/versions does: dot-separated numbers, a
missing part counts as 0, so "1.4" < "1.40" and "1" == "1.0".
"""
from __future__ import annotations

import re
from typing import Optional, Tuple

from rootless.errors import InvalidArgument

_PREFIX = re.compile(r"^/v(\d+(?:\.\d+)*)(/.*)$")


def version_tuple(version: str) -> Tuple[int, ...]:
    """(1, 44) from "1.44"; refuses what is not dotted numbers."""
    parts = version.split(".")
    if not version or not all(p.isdigit() for p in parts):
        raise InvalidArgument(f"invalid API version: {version!r}", hint='a version looks like "1.44"')
    return tuple(int(p) for p in parts)


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as a is older than, the same as, or newer than b."""
    left, right = version_tuple(a), version_tuple(b)
    width = max(len(left), len(right))
    left += (0,) * (width - len(left))
    right += (0,) * (width - len(right))
    return (left > right) - (left < right)


def is_older(version: str, than: str) -> bool:
    """docker's versions.LessThan."""
    return compare(version, than) < 0


def at_least(version: str, minimum: str) -> bool:
    """docker's versions.GreaterThanOrEqualTo."""
    return compare(version, minimum) >= 0


def split_path(path: str) -> Tuple[Optional[str], str]:
    """("1.44", "/containers/json") from "/v1.44/containers/json"; (None, path) without a prefix."""
    found = _PREFIX.match(path)
    if not found:
        return None, path
    return found.group(1), found.group(2)


def versioned_path(version: Optional[str], path: str) -> str:
    """The inverse: "/v1.44" + path, or path alone when version is None."""
    return f"/v{version}{path}" if version else path
