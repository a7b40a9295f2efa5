"""client/urls.py quotes exactly as urllib.parse does (it replaces it to save its import)."""
from __future__ import annotations

import urllib.parse

import pytest

from rootless.client import urls

TEXTS = ["", "abc", "a b", "a+b", "a%b", "a/b", "a:b@c", "~_.-", "ünï cødé", "100%", "?&=#", "\t\n", "sha256:ab/cd",
         "registry.example:5000/ns/img:tag@sha256:00", "😀", "a  b ", "'\"<>"]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("safe", ["", "/", "/:@"])
def test_quote_is_urllibs(text: str, safe: str) -> None:
    assert urls.quote(text, safe=safe) == urllib.parse.quote(text, safe=safe)
    assert urls.quote(text.encode(), safe=safe) == urllib.parse.quote(text.encode(), safe=safe)


@pytest.mark.parametrize("text", TEXTS)
def test_quote_plus_is_urllibs(text: str) -> None:
    assert urls.quote_plus(text) == urllib.parse.quote_plus(text, safe="")


def test_urlencode_is_urllibs_with_doseq() -> None:
    queries = [
        {},
        {"all": "1", "filters": '{"label": ["a=b c"]}', "limit": 3, "ratio": 0.5, "t": -1},
        {"names": ("a b", "c/d", 7), "empty": (), "bytes": b"x y", "ü": "ß"},
        [("fromSrc", "-"), ("changes", "ENV A=b c"), ("changes", "CMD [\"x\"]")],
    ]
    for query in queries:
        assert urls.urlencode(query) == urllib.parse.urlencode(query, doseq=True)
