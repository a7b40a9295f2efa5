"""JSON request bodies -> the typed dataclasses of api/types.py, once, at the API edge.

Decoding follows Go's encoding/json, as dockerd's does: field names match
exactly or else case-insensitively, unknown fields are ignored, null is
accepted for every field (nil for pointers, slices and maps; the zero value
otherwise). Beyond Go: a null *inside* a list or map of strings is refused
(dockerd would store "" and ``Env: [null]`` is never meant). A mistyped field
is InvalidArgument (HTTP 400) naming its path: ``HostConfig.Ulimits[0].Soft:
expected an integer, got string``.

to_wire turns the objects back into the dict shape the engine reads today,
with only the fields the request carried, every value checked and normalised
(a StrSlice string becomes a one-element list, as moby's strslice does).
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, List, Tuple, Type, TypeVar, Union, get_args, get_origin, get_type_hints

from rootless.api import types
from rootless.errors import InvalidArgument

S = TypeVar("S", bound=types.WireStruct)
_NONE = type(None)


def decode(cls: Type[S], data: Any, path: str = "") -> S:
    """One body (or nested object) as cls; InvalidArgument names the first bad field."""
    if data is None:
        obj = cls()
    elif not isinstance(data, dict):
        raise _mistyped(path or "body", "an object", data)
    else:
        hints, folded = _fields_of(cls)
        values: Dict[str, Any] = {}
        for key, raw in data.items():
            name = key if key in hints else folded.get(str(key).lower())
            if name is not None:  # Go ignores fields it does not know
                values[name] = _decode_value(hints[name], raw, types.at(path, name))
        obj = cls(fields_set=frozenset(values), **values)
    obj.check(path)
    return obj


def decode_body(cls: Type[S], body: Any) -> S:
    """A request's JSON body; an empty body is an empty object (Go decodes nothing)."""
    return decode(cls, body if body is not None else {})


def to_wire(obj: types.WireStruct) -> Dict[str, Any]:
    """The fields the request set, as plain JSON values, in schema order."""
    return {f.name: _wire(getattr(obj, f.name)) for f in dataclasses.fields(obj)
            if f.name in obj.fields_set}


def _wire(value: Any) -> Any:
    if isinstance(value, types.WireStruct):
        return to_wire(value)
    if isinstance(value, list):
        return [_wire(item) for item in value]
    if isinstance(value, dict):
        return {key: _wire(item) for key, item in value.items()}
    return value


_FIELDS: Dict[type, Tuple[Dict[str, Any], Dict[str, str]]] = {}


def _fields_of(cls: Type[types.WireStruct]) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """Field name -> type hint, and lower-cased name -> name (Go's case-folding match)."""
    if cls not in _FIELDS:
        hints = get_type_hints(cls, include_extras=True)
        names = [f.name for f in dataclasses.fields(cls) if f.name != "fields_set"]
        _FIELDS[cls] = ({name: hints[name] for name in names}, {name.lower(): name for name in names})
    return _FIELDS[cls]


def _shape(hint: Any) -> Tuple[bool, Any, Tuple[Any, ...]]:
    """(nullable, bare type, markers) of Optional[...] / Annotated[...] in any nesting."""
    nullable, marks = False, ()
    while True:
        origin = get_origin(hint)
        if origin is Union and _NONE in get_args(hint):
            nullable = True
            hint = next(arg for arg in get_args(hint) if arg is not _NONE)
        elif hasattr(hint, "__metadata__"):  # typing.Annotated
            marks += tuple(hint.__metadata__)
            hint = hint.__origin__
        else:
            return nullable, hint, marks


def _decode_value(hint: Any, value: Any, path: str) -> Any:
    nullable, base, marks = _shape(hint)
    is_struct = _is_struct(base)
    if value is None and (nullable or not is_struct):
        return None if nullable else _zero(base, marks)
    if types.STRSLICE in marks and isinstance(value, str):
        return [value]
    origin = get_origin(base)
    if origin is list:
        return _decode_list(base, marks, value, path)
    if origin is dict:
        return _decode_map(base, value, path)
    if is_struct:
        return decode(base, value, path)  # null: the zero struct, which must pass its checks too
    return _decode_scalar(base, marks, value, path)


def _decode_scalar(base: Any, marks: Tuple[Any, ...], value: Any, path: str) -> Any:
    if base is str:
        if not isinstance(value, str):
            raise _mistyped(path, "a string", value)
        return value
    if base is bool:
        if not isinstance(value, bool):
            raise _mistyped(path, "a boolean", value)
        return value
    if base is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _mistyped(path, "an integer", value)
        kind = next((m for m in marks if isinstance(m, types.GoInt)), types.INT64)
        if not kind.low <= value <= kind.high:
            raise InvalidArgument(f"invalid argument: {path}: {value} is out of range for {kind.name} "
                                  f"({kind.low} to {kind.high})")
        return value
    raise TypeError(f"no decoder for {base!r} at {path}")  # a schema bug, caught by the unit tests


def _decode_list(base: Any, marks: Tuple[Any, ...], value: Any, path: str) -> List[Any]:
    if not isinstance(value, list):
        expected = "a string or an array of strings" if types.STRSLICE in marks else "an array"
        raise _mistyped(path, expected, value)
    item_hint = get_args(base)[0]
    items = [_decode_item(item_hint, item, f"{path}[{index}]") for index, item in enumerate(value)]
    array = next((m for m in marks if isinstance(m, types.GoArray)), None)
    if array is not None:  # Go's [N]T: pad with zeros, drop the rest
        items = (items + [_zero(_shape(item_hint)[1], ())] * array.length)[:array.length]
    return items


def _decode_map(base: Any, value: Any, path: str) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise _mistyped(path, "an object", value)
    item_hint = get_args(base)[1]
    return {key: _decode_item(item_hint, item, f"{path}[{json.dumps(key)}]") for key, item in value.items()}


def _decode_item(hint: Any, value: Any, path: str) -> Any:
    """An element of a list or map: null only where Go keeps it meaningful (pointer, struct)."""
    nullable, base, _ = _shape(hint)
    is_struct = _is_struct(base)
    if value is None and not (nullable or is_struct):
        raise _mistyped(path, _expected(base), value)
    return _decode_value(hint, value, path)


def _is_struct(base: Any) -> bool:
    return isinstance(base, type) and issubclass(base, types.WireStruct)


def _zero(base: Any, marks: Tuple[Any, ...]) -> Any:
    """Go's zero value, what null leaves in a non-pointer scalar or array field."""
    array = next((m for m in marks if isinstance(m, types.GoArray)), None)
    if array is not None:
        return [0] * array.length
    zeros: Dict[Any, Any] = {str: "", bool: False, int: 0}
    if base not in zeros:
        raise TypeError(f"no zero value for {base!r}")  # a schema bug: slices and maps are Optional
    return zeros[base]


def _expected(base: Any) -> str:
    return {str: "a string", bool: "a boolean", int: "an integer"}.get(base, "a value")


def json_kind(value: Any) -> str:
    """The JSON type of a decoded value, in Go's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _mistyped(path: str, expected: str, value: Any) -> InvalidArgument:
    return InvalidArgument(f"invalid argument: {path}: expected {expected}, got {json_kind(value)}")
