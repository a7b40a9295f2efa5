from __future__ import annotations

import base64
import json
import os
import stat
from typing import Any

import pytest

from rootless.errors import InvalidArgument, ToolError
from rootless.registry.auth import (
    Challenge, Credentials, DockerConfig, config_key, merge_scopes, normalise_server,
    parse_challenges,
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_config(tmp_path: Any, data: Any) -> DockerConfig:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return DockerConfig(str(path))


def test_parse_bearer_challenge() -> None:
    header = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'
    assert parse_challenges(header) == [Challenge("bearer", {
        "realm": "https://auth.docker.io/token", "service": "registry.docker.io",
        "scope": "repository:library/busybox:pull"})]


def test_parse_several_challenges_and_escapes() -> None:
    header = 'Basic realm="a \\"quoted\\" realm", Bearer realm="https://x/token", error=invalid_token'
    assert parse_challenges(header) == [
        Challenge("basic", {"realm": 'a "quoted" realm'}),
        Challenge("bearer", {"realm": "https://x/token", "error": "invalid_token"}),
    ]
    assert parse_challenges("") == []


def test_merge_scopes() -> None:
    assert merge_scopes(["repository:a:pull", "repository:a:push", "", "repository:b:pull"]) == [
        "repository:a:pull,push", "repository:b:pull"]
    assert merge_scopes(["repository:a:pull,push", "repository:a:pull"]) == ["repository:a:pull,push"]


def test_server_names() -> None:
    assert normalise_server("https://index.docker.io/v1/") == "docker.io"
    assert normalise_server("http://127.0.0.1:5000/v2/") == "127.0.0.1:5000"
    assert normalise_server("quay.io") == "quay.io"
    assert config_key("docker.io") == "https://index.docker.io/v1/"
    assert config_key("127.0.0.1:5000") == "127.0.0.1:5000"


def test_read_auth_and_username_password(tmp_path: Any) -> None:
    config = write_config(tmp_path, {"auths": {
        "https://index.docker.io/v1/": {"auth": b64("hub:pw:with:colons")},
        "127.0.0.1:5000": {"username": "u", "password": "p"},
        "quay.io": {"identitytoken": "tok"},
        "empty.io": {},
    }})
    assert config.credentials("docker.io") == Credentials("hub", "pw:with:colons")
    assert config.credentials("127.0.0.1:5000") == Credentials("u", "p")
    assert config.credentials("quay.io") == Credentials(identity_token="tok")
    assert config.credentials("empty.io") is None
    assert config.credentials("other.io") is None
    assert "pw" not in repr(config.credentials("docker.io"))


def test_missing_and_broken_config(tmp_path: Any) -> None:
    assert DockerConfig(str(tmp_path / "none.json")).credentials("x.io") is None
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(InvalidArgument, match="read docker config"):
        DockerConfig(str(tmp_path / "config.json")).credentials("x.io")


def test_docker_config_env(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert DockerConfig().path == str(tmp_path / "config.json")


def test_store_and_erase(tmp_path: Any) -> None:
    config = DockerConfig(str(tmp_path / "sub" / "config.json"))
    config.store("127.0.0.1:5000", Credentials("u", "p"))
    config.store("docker.io", Credentials("hub", "x"))
    data = json.loads((tmp_path / "sub" / "config.json").read_text())
    assert data["auths"]["127.0.0.1:5000"] == {"auth": b64("u:p")}
    assert "https://index.docker.io/v1/" in data["auths"]
    assert stat.S_IMODE(os.stat(tmp_path / "sub" / "config.json").st_mode) == 0o600
    assert config.credentials("127.0.0.1:5000") == Credentials("u", "p")
    assert config.erase("127.0.0.1:5000") is True
    assert config.erase("127.0.0.1:5000") is False
    assert config.credentials("127.0.0.1:5000") is None


def test_store_keeps_other_keys(tmp_path: Any) -> None:
    config = write_config(tmp_path, {"psFormat": "table", "auths": {"http://x.io/v1/": {"auth": b64("a:b")}}})
    config.store("x.io", Credentials(identity_token="t"))
    data = json.loads((tmp_path / "config.json").read_text())
    assert data == {"psFormat": "table", "auths": {"http://x.io/v1/": {"identitytoken": "t"}}}


def test_credential_helper_get(tmp_path: Any, fp: Any) -> None:
    config = write_config(tmp_path, {"credHelpers": {"gcr.io": "gcr"}, "credsStore": "pass"})
    fp.register(["docker-credential-gcr", "get"], stdout=json.dumps({"Username": "u", "Secret": "s"}))
    fp.register(["docker-credential-pass", "get"], stdout=json.dumps({"Username": "<token>", "Secret": "t"}))
    assert config.credentials("gcr.io") == Credentials("u", "s")
    assert config.credentials("other.io") == Credentials(identity_token="t")


def test_credential_helper_not_found_and_failure(tmp_path: Any, fp: Any) -> None:
    config = write_config(tmp_path, {"credsStore": "pass"})
    fp.register(["docker-credential-pass", "get"], stdout="credentials not found in native keychain",
                returncode=1)
    assert config.credentials("x.io") is None
    fp.register(["docker-credential-pass", "get"], stderr="gpg: decryption failed", returncode=1)
    with pytest.raises(ToolError, match="docker-credential-pass: get failed"):
        config.credentials("x.io")


def test_credential_helper_store_and_erase(tmp_path: Any, fp: Any) -> None:
    config = write_config(tmp_path, {"credsStore": "pass"})
    fp.register(["docker-credential-pass", "store"])
    fp.register(["docker-credential-pass", "erase"])
    config.store("docker.io", Credentials("u", "p"))
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["auths"] == {"https://index.docker.io/v1/": {}}
    assert config.erase("docker.io") is True
    assert fp.call_count(["docker-credential-pass", "store"]) == 1
    assert fp.call_count(["docker-credential-pass", "erase"]) == 1
