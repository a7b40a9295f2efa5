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
from typing import Any, Callable, Dict, List, Tuple, Type, TypeVar, Union, get_args, get_origin, get_type_hints

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
        decoders, folded = _plan_of(cls)
        values: Dict[str, Any] = {}
        for key, raw in data.items():
            name = key if key in decoders else folded.get(str(key).lower())
            if name is not None:  # Go ignores fields it does not know
                values[name] = decoders[name](raw, f"{path}.{name}" if path else name)  # types.at, inlined
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


# A value's decoder, made once per type hint: the hint's shape (Optional, Annotated markers,
# list/map/struct/scalar) is worked out when the decoder is made, not again for each of the
# ~100 values of a create body (that took ~3/4 of the decoding time).
Decoder = Callable[[Any, str], Any]
_PLANS: Dict[type, Tuple[Dict[str, Decoder], Dict[str, str]]] = {}
_VALUES: Dict[Any, Decoder] = {}
_ITEMS: Dict[Any, Decoder] = {}


def _plan_of(cls: Type[types.WireStruct]) -> Tuple[Dict[str, Decoder], Dict[str, str]]:
    """Field name -> its decoder, and lower-cased name -> name (Go's case-folding match)."""
    plan = _PLANS.get(cls)
    if plan is None:
        hints = get_type_hints(cls, include_extras=True)
        names = [f.name for f in dataclasses.fields(cls) if f.name != "fields_set"]
        plan = ({name: _value_decoder(hints[name]) for name in names}, {name.lower(): name for name in names})
        _PLANS[cls] = plan
    return plan


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


def _value_decoder(hint: Any) -> Decoder:
    """A field's (or an element's, past its null check) decoder: null, then a StrSlice string, then by kind."""
    decoder = _VALUES.get(hint)
    if decoder is not None:
        return decoder
    nullable, base, marks = _shape(hint)
    is_struct, strslice = _is_struct(base), types.STRSLICE in marks
    typed = _typed_decoder(base, marks)

    def decode_value(value: Any, path: str) -> Any:
        if value is None and (nullable or not is_struct):
            return None if nullable else _zero(base, marks)  # a struct's null: the zero struct, checked too
        if strslice and isinstance(value, str):
            return [value]
        return typed(value, path)

    _VALUES[hint] = decode_value
    return decode_value


def _typed_decoder(base: Any, marks: Tuple[Any, ...]) -> Decoder:
    origin = get_origin(base)
    if origin is list:
        return _list_decoder(base, marks)
    if origin is dict:
        return _map_decoder(base)
    if _is_struct(base):
        return lambda value, path: decode(base, value, path)
    return _scalar_decoder(base, marks)


def _scalar_decoder(base: Any, marks: Tuple[Any, ...]) -> Decoder:
    if base is str or base is bool:
        expected = "a string" if base is str else "a boolean"

        def decode_plain(value: Any, path: str) -> Any:
            if not isinstance(value, base):
                raise _mistyped(path, expected, value)
            return value
        return decode_plain
    if base is int:
        kind = next((m for m in marks if isinstance(m, types.GoInt)), types.INT64)

        def decode_int(value: Any, path: str) -> Any:
            if not isinstance(value, int) or isinstance(value, bool):
                raise _mistyped(path, "an integer", value)
            if not kind.low <= value <= kind.high:
                raise InvalidArgument(f"invalid argument: {path}: {value} is out of range for {kind.name} "
                                      f"({kind.low} to {kind.high})")
            return value
        return decode_int

    def no_decoder(value: Any, path: str) -> Any:
        raise TypeError(f"no decoder for {base!r} at {path}")  # a schema bug, caught by the unit tests
    return no_decoder


def _list_decoder(base: Any, marks: Tuple[Any, ...]) -> Decoder:
    expected = "a string or an array of strings" if types.STRSLICE in marks else "an array"
    item_hint = get_args(base)[0]
    item = _item_decoder(item_hint)
    array = next((m for m in marks if isinstance(m, types.GoArray)), None)

    def decode_list(value: Any, path: str) -> List[Any]:
        if not isinstance(value, list):
            raise _mistyped(path, expected, value)
        items = [item(element, f"{path}[{index}]") for index, element in enumerate(value)]
        if array is not None:  # Go's [N]T: pad with zeros, drop the rest
            items = (items + [_zero(_shape(item_hint)[1], ())] * array.length)[:array.length]
        return items
    return decode_list


def _map_decoder(base: Any) -> Decoder:
    item = _item_decoder(get_args(base)[1])

    def decode_map(value: Any, path: str) -> Dict[str, Any]:
        if not isinstance(value, dict):
            raise _mistyped(path, "an object", value)
        return {key: item(element, f"{path}[{json.dumps(key)}]") for key, element in value.items()}
    return decode_map


def _item_decoder(hint: Any) -> Decoder:
    """An element of a list or map: null only where Go keeps it meaningful (pointer, struct)."""
    decoder = _ITEMS.get(hint)
    if decoder is not None:
        return decoder
    nullable, base, _ = _shape(hint)
    value_decoder = _value_decoder(hint)
    if nullable or _is_struct(base):
        decoder = value_decoder
    else:
        expected = _expected(base)

        def decode_item(value: Any, path: str) -> Any:
            if value is None:
                raise _mistyped(path, expected, value)
            return value_decoder(value, path)
        decoder = decode_item
    _ITEMS[hint] = decoder
    return decoder


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
