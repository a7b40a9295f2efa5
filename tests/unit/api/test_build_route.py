"""api/routes/build.py: X-Registry-Config decoded at the edge into per-registry credentials."""
from __future__ import annotations

import base64
import json

import pytest

from rootless.api.routes.build import registry_config
from rootless.errors import InvalidArgument


def header(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()


def test_credentials_per_registry() -> None:
    found = registry_config(header({"r.example:5000": {"username": "u", "password": "p", "email": ""},
                                    "other": {"auth": base64.b64encode(b"a:b").decode()},
                                    "empty": {}}))
    assert sorted(found) == ["other", "r.example:5000"]
    assert (found["r.example:5000"].username, found["r.example:5000"].password) == ("u", "p")
    assert (found["other"].username, found["other"].password) == ("a", "b")
    assert registry_config("e30=") == {} and registry_config(None) == {}


@pytest.mark.parametrize("bad", ["not base64 json!", header([1]), header({"r": "x"})])
def test_bad_headers_are_400(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="X-Registry-Config"):
        registry_config(bad)
