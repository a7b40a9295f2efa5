"""X-Registry-Auth and POST /auth bodies decoded at the API edge (rootless/api/registry_auth.py)."""
from __future__ import annotations

import base64
import json
from types import SimpleNamespace
from typing import Any, List

import pytest

from rootless.api import types
from rootless.api.http import Request
from rootless.api.registry_auth import credentials, decode_registry_auth, request_credentials
from rootless.api.routes import images as image_routes
from rootless.errors import InvalidArgument
from rootless.registry.auth import Credentials


def header(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()


def request(headers: Any = None, body: Any = None, query: Any = None) -> Request:
    return Request("POST", "/auth", query or {}, headers or {}, "1.43", _json=body)


def test_header_decodes_unpadded_and_case_folded() -> None:
    auth = decode_registry_auth("eyJ1c2VybmFtZSI6ImFsaWNlIiwicGFzc3dvcmQiOiJzZWNyZXQifQ")  # no padding
    assert (auth.username, auth.password) == ("alice", "secret")
    assert decode_registry_auth(header({"Username": "bob", "Password": "pw", "ServerAddress": "r"})).username == "bob"


def test_empty_header_and_empty_object_carry_no_credentials() -> None:
    assert decode_registry_auth(None) is None and decode_registry_auth("") is None
    assert decode_registry_auth("e30=") == types.AuthConfig()
    assert request_credentials(request({"X-Registry-Auth": "e30="})) is None
    assert request_credentials(request({})) is None


@pytest.mark.parametrize("value, message", [
    ("!!!", "invalid X-Registry-Auth header"),
    (header([1, 2]), "not a JSON object"),
    (header({"username": 5}), "X-Registry-Auth.username: expected a string, got number"),
])
def test_bad_header_is_invalid_argument(value: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        request_credentials(request({"X-Registry-Auth": value}))


def test_credentials_from_password_auth_field_and_token() -> None:
    assert credentials(types.AuthConfig(username="u", password="p")) == Credentials("u", "p")
    packed = base64.b64encode(b"carol:pass:word").decode()
    assert credentials(types.AuthConfig(auth=packed)) == Credentials("carol", "pass:word")
    assert credentials(types.AuthConfig(identitytoken="tok")) == Credentials(identity_token="tok")
    assert credentials(types.AuthConfig(username="only-a-name")) is None


def test_undecodable_auth_field_is_invalid_argument_not_a_crash() -> None:
    """base64 errors in the auth field escaped as a 500 when the engine decoded it."""
    with pytest.raises(InvalidArgument, match="auth"):
        request_credentials(request({"X-Registry-Auth": header({"auth": "a"})}))


class FakeImages:
    def __init__(self) -> None:
        self.logins: List[Any] = []

    def login(self, username: str, password: str, server: Any, store: bool) -> Any:
        self.logins.append((username, password, server, store))
        return {"Status": "Login Succeeded", "IdentityToken": ""}


def test_post_auth_decodes_its_body_as_auth_config() -> None:
    engine = SimpleNamespace(images=FakeImages())
    body = {"username": "u", "password": "p", "serveraddress": "r.example", "email": None}
    response = image_routes.auth(engine, request(body=body, query={"store": ["1"]}))  # type: ignore[arg-type]
    assert response.status == 200 and engine.images.logins == [("u", "p", "r.example", True)]
    image_routes.auth(engine, request(body={}))  # type: ignore[arg-type]
    assert engine.images.logins[-1] == ("", "", None, False)


@pytest.mark.parametrize("body, message", [
    ({"username": "u", "password": 5}, "password: expected a string, got number"),
    (["u"], "body: expected an object"),
])
def test_post_auth_refuses_a_mistyped_body(body: Any, message: str) -> None:
    engine = SimpleNamespace(images=FakeImages())
    with pytest.raises(InvalidArgument, match=message):
        image_routes.auth(engine, request(body=body))  # type: ignore[arg-type]
    assert engine.images.logins == []
