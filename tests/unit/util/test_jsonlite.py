"""util/jsonlite gives json.loads's values and errors, and json.dumps's text for one string."""
from __future__ import annotations

import json

import pytest

from rootless.util import jsonlite

VALID = ['[]', '{}', ' \n[1, 2.5, -3e2, "x", null, true, false]\r\n', '{"a": {"b": [{"c": "\\u00e9\\n\\ud83d\\ude00"}]}}',
         '"caf\u00e9"', '0', '-0.0', '1E400', 'NaN', '[Infinity, -Infinity]', '{"k": 1, "k": 2}', '12345678901234567890',
         '"\\ud800"', '\t"tab"\t']
INVALID = ['', ' ', '[', '[1,]', '{"a" 1}', '[1] x', '[1][2]', 'nul', "{'a': 1}", '"\x01"', '\ufeff[]', '[1e]',
           '{"a": 1,}', '"unterminated', '[-]', 'tru']


@pytest.mark.parametrize("text", VALID)
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_what_parses_is_what_json_loads_gives(text: str, as_bytes: bool) -> None:
    data = text.encode("utf-8", "surrogatepass") if as_bytes else text
    assert repr(jsonlite.loads(data)) == repr(json.loads(data))  # repr: NaN is not equal to itself


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf[1]", "[1]".encode("utf-16"), "[1]".encode("utf-16-le"),
                                  "[1]".encode("utf-32-be"), b'["\xff"]', bytearray(b'[1, {"a": 2}]')],
                         ids=["utf-8 BOM", "utf-16", "utf-16-le", "utf-32-be", "not utf-8", "bytearray"])
def test_bytes_json_would_decode_otherwise_go_through_json(data: bytes) -> None:
    try:
        expected = repr(json.loads(data))
    except ValueError as exc:
        with pytest.raises(type(exc), match="^" + __import__("re").escape(str(exc)) + "$"):
            jsonlite.loads(data)
    else:
        assert repr(jsonlite.loads(data)) == expected


@pytest.mark.parametrize("text", INVALID)
def test_what_does_not_parse_raises_jsons_own_error(text: str) -> None:
    with pytest.raises(ValueError) as expected:
        json.loads(text)
    with pytest.raises(type(expected.value)) as got:
        jsonlite.loads(text)
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("value", ["sleep 1d", 'sh -c "echo \u00e9t\u00e9"', "a\tb\n\x00\x1f\u2028", "\ud800", "",
                                   ["ls", "-l"], None, 3])
def test_dumps_unicode_is_json_dumps_without_ascii_escapes(value: object) -> None:
    assert jsonlite.dumps_unicode(value) == json.dumps(value, ensure_ascii=False)


class _Float(float):
    pass


CREATE_BODY = {"Image": "busybox", "Cmd": ["sh", "-c", "echo \u00e9 \"$A\""], "Env": ["A=1"], "Tty": False,
               "HostConfig": {"AutoRemove": True, "Binds": [], "PortBindings": {"80/tcp": [{"HostPort": "8080"}]},
                              "NanoCpus": 0, "Memory": 0}, "Labels": {}, "StopTimeout": None}
DUMPS_VALUES = [CREATE_BODY, [], {}, "x\u2028\x00", "", 0, -1.5, 1e300, 10 ** 30, float("nan"), [float("-inf")], None,
                True, (1, "a"), {1: "int key", 2.5: "float key", None: "none", False: "bool"}, _Float(0.1),
                [[[{"deep": [1]}]]], {"\ud800": "\udfff"}]


@pytest.mark.parametrize("value", DUMPS_VALUES)
def test_dumps_is_json_dumps(value: object) -> None:
    assert jsonlite.dumps(value) == json.dumps(value)


def _circular() -> object:
    loop: list = []  # type: ignore[type-arg]
    loop.append(loop)
    return loop


@pytest.mark.parametrize("value", [{"a": object()}, {(1, 2): "tuple key"}, {1, 2}, b"bytes", _circular()],
                         ids=["object", "tuple key", "set", "bytes", "circular"])
def test_dumps_raises_jsons_own_error(value: object) -> None:
    with pytest.raises((TypeError, ValueError)) as expected:
        json.dumps(value)
    with pytest.raises(type(expected.value), match="^" + str(expected.value).replace("(", r"\(").replace(")", r"\)")):
        jsonlite.dumps(value)
