"""json.loads and json.dumps, without importing the json package.

`import json` costs ~1 ms on the measured host: the package compiles six
regular expressions at import for its pure-Python fallbacks, which CPython
does not use; its C accelerator `_json` loads in ~0.2 ms. `rootless ps`
decodes one reply and quotes one string per row (bench/README.md "CLI fast
path", second pass). What does not parse goes through json.loads itself, so
every error is json's own. `rootless run` encodes its create body with
_json's C encoder as json.dumps does (bench/README.md "CLI start-up, session 9").
"""
from __future__ import annotations

import _json

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Any, Optional, Union

_WHITESPACE = " \t\n\r"  # json.decoder.WHITESPACE


class _Defaults:
    """What _json.make_scanner reads from a json.JSONDecoder() with its defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


_scan = _json.make_scanner(_Defaults())  # type: ignore[arg-type]  # typeshed: the context's type is make_scanner


def loads(data: Union[str, bytes, bytearray]) -> Any:
    """json.loads(data): the same value, or json's own error."""
    text = _text(data)
    if text is not None:
        start = len(text) - len(text.lstrip(_WHITESPACE))
        try:
            value, end = _scan(text, start)
        except (StopIteration, ValueError):  # no value there, or a bad one: json says which
            end = -1
        if end == len(text.rstrip(_WHITESPACE)):
            return value
    import json

    return json.loads(data)


def _text(data: Union[str, bytes, bytearray]) -> Optional[str]:
    """data as json.loads decodes it, when that is UTF-8: bytes whose first two are ASCII and not
    NUL (json.detect_encoding then finds no BOM and no UTF-16/32); None: leave it to json."""
    if isinstance(data, str):
        return data
    if not data[:2].isascii() or b"\x00" in data[:2]:
        return None
    try:
        return bytes(data).decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None


def dumps_unicode(value: Any) -> str:
    """json.dumps(value, ensure_ascii=False)."""
    if isinstance(value, str):
        return _json.encode_basestring(value)  # what json's encoder calls for a str
    import json

    return json.dumps(value, ensure_ascii=False)


def _refuse(value: Any) -> Any:
    """JSONEncoder.default: a value json can't encode; dumps then lets json.dumps raise its error."""
    raise TypeError(type(value).__name__)


def dumps(value: Any) -> str:
    """json.dumps(value) with its defaults: the same text, or json's own error."""
    if isinstance(value, str):
        return _json.encode_basestring_ascii(value)  # JSONEncoder.encode's shortcut for a str
    try:
        # What JSONEncoder.iterencode builds for its one-shot C path: check_circular (markers),
        # ensure_ascii, indent None, separators (", ", ": "), sort_keys, skipkeys False, allow_nan.
        encode = _json.make_encoder({}, _refuse, _json.encode_basestring_ascii, None, ": ", ", ",
                                    False, False, True)
        return "".join(encode(value, 0))
    except (TypeError, ValueError, RecursionError):  # not JSON, circular, or another _json: json says
        pass
    import json

    return json.dumps(value)
