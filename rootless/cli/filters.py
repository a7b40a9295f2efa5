"""`--filter key=value` flags -> the API's filters map {"key": ["value", ...]}."""
from __future__ import annotations

from typing import Dict, Iterable, List

from rootless.errors import InvalidArgument


def parse_filter_flags(values: Iterable[str]) -> Dict[str, List[str]]:
    """Repeated --filter flags; a value without '=' is refused like docker does."""
    result: Dict[str, List[str]] = {}
    for value in values:
        key, sep, wanted = value.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"bad format of filter (expected name=value): {value}")
        result.setdefault(key.strip().lower(), []).append(wanted)
    return result
