"""Percent-encoding of request paths and queries: urllib.parse's rules without its import.

urllib.parse imports ipaddress and builds a dozen named tuples at import, ~2 ms
of every command on the measured host (bench/README.md "CLI start-up"), for
the two functions the client needs. tests/unit/client/test_urls.py checks these
against urllib.parse.
"""
from __future__ import annotations

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Any, Iterable, Mapping, Tuple, Union

# RFC 3986 unreserved characters: never quoted (urllib.parse._ALWAYS_SAFE).
_ALWAYS_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote(text: Union[str, bytes], safe: str = "/") -> str:
    """urllib.parse.quote: UTF-8, then %XX for every byte but the unreserved ones and `safe`."""
    keep = _ALWAYS_SAFE.union(safe.encode("ascii"))
    data = text.encode("utf-8") if isinstance(text, str) else text
    return "".join(chr(byte) if byte in keep else f"%{byte:02X}" for byte in data)


def quote_plus(text: Union[str, bytes]) -> str:
    """urllib.parse.quote_plus(text, safe=""): quote, with spaces as "+"."""
    if (" " not in text) if isinstance(text, str) else (b" " not in text):
        return quote(text, "")
    return quote(text, " ").replace(" ", "+")


def urlencode(query: Union[Mapping[Any, Any], Iterable[Tuple[Any, Any]]]) -> str:
    """urllib.parse.urlencode(query, doseq=True): a sequence value repeats its key."""
    pairs = query.items() if hasattr(query, "items") else query  # as urllib.parse tells a mapping
    out = []
    for key, value in pairs:
        name = quote_plus(key if isinstance(key, bytes) else str(key))
        if isinstance(value, (str, bytes)):
            out.append(f"{name}={quote_plus(value)}")
            continue
        try:
            len(value)
        except TypeError:  # a number or another scalar
            out.append(f"{name}={quote_plus(str(value))}")
            continue
        for item in value:
            out.append(f"{name}={quote_plus(item if isinstance(item, (str, bytes)) else str(item))}")
    return "&".join(out)
