"""Issue 14: the docker CLI's context store layout, byte for byte where docker reads it."""
from __future__ import annotations

import hashlib
import json
import os

import pytest

from rootless.config.contexts import ContextStore, context_id
from rootless.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound


@pytest.fixture()
def store(tmp_path) -> ContextStore:
    return ContextStore({"DOCKER_CONFIG": str(tmp_path / "docker"), "HOME": str(tmp_path)})


def test_context_paths_are_dockers(store: ContextStore, tmp_path) -> None:
    digest = hashlib.sha256(b"remote").hexdigest()
    assert context_id("remote") == digest
    assert store.meta_dir("remote") == str(tmp_path / "docker" / "contexts" / "meta" / digest)
    assert store.tls_dir("remote") == str(tmp_path / "docker" / "contexts" / "tls" / digest / "docker")


def test_default_config_dir_is_home_docker(tmp_path) -> None:
    assert ContextStore({"HOME": str(tmp_path)}).config_file == str(tmp_path / ".docker" / "config.json")


def test_create_writes_dockers_meta_json_and_tls_files(store: ContextStore, tmp_path) -> None:
    for name in ("ca", "cert", "key"):
        (tmp_path / f"{name}.pem").write_text(name)
    ctx = store.create("remote", "tcp://h:2376", "a box",
                       {k: str(tmp_path / f"{k}.pem") for k in ("ca", "cert", "key")})
    with open(os.path.join(store.meta_dir("remote"), "meta.json")) as f:
        meta = json.load(f)
    assert meta == {"Name": "remote", "Metadata": {"Description": "a box"},
                    "Endpoints": {"docker": {"Host": "tcp://h:2376", "SkipTLSVerify": False}}}
    assert sorted(os.listdir(store.tls_dir("remote"))) == ["ca.pem", "cert.pem", "key.pem"]
    assert os.stat(os.path.join(store.tls_dir("remote"), "key.pem")).st_mode & 0o077 == 0
    assert ctx.tls_dir == store.tls_dir("remote") and ctx.host == "tcp://h:2376"
    assert store.names() == ["remote"]


def test_context_written_by_docker_is_read(store: ContextStore) -> None:
    os.makedirs(store.meta_dir("dk"))
    with open(os.path.join(store.meta_dir("dk"), "meta.json"), "w") as f:
        json.dump({"Name": "dk", "Metadata": {}, "Endpoints": {"docker": {"Host": "ssh://u@h",
                                                                           "SkipTLSVerify": False}}}, f)
    ctx = store.get("dk")
    assert (ctx.host, ctx.tls_dir, ctx.description) == ("ssh://u@h", None, "")


def test_use_keeps_the_rest_of_config_json(store: ContextStore) -> None:
    store.create("remote", "ssh://u@h")
    os.makedirs(store.config_dir, exist_ok=True)
    with open(store.config_file, "w") as f:
        json.dump({"auths": {"r.example": {"auth": "eDp5"}}}, f)
    store.use("remote")
    with open(store.config_file) as f:
        assert json.load(f) == {"auths": {"r.example": {"auth": "eDp5"}}, "currentContext": "remote"}
    assert store.current() == "remote"
    store.use("default")
    assert store.current() == "default"
    with open(store.config_file) as f:
        assert "currentContext" not in json.load(f)


def test_refusals(store: ContextStore) -> None:
    with pytest.raises(InvalidArgument):
        store.create("default", "ssh://h")
    with pytest.raises(InvalidArgument):
        store.create("bad/name", "ssh://h")
    store.create("one", "ssh://h")
    with pytest.raises(AlreadyExists):
        store.create("one", "ssh://h")
    with pytest.raises(NotFound):
        store.use("missing")
    store.remove("one")
    with pytest.raises(NotFound):
        store.get("one")


def test_broken_config_json_is_an_error_not_a_reset(store: ContextStore) -> None:
    os.makedirs(store.config_dir)
    with open(store.config_file, "w") as f:
        f.write("{not json")
    with pytest.raises(FailedPrecondition, match="config.json"):
        store.use("default")
