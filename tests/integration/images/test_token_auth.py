"""Bearer-token auth against a real docker-registry and a token server written for the tests."""
from __future__ import annotations

import shutil
import tempfile
from typing import Iterator

import pytest

from tests import imagebuild
from tests.integration.conftest import start_registry, stop_registry
from tests.integration.images.tokenserver import TokenServer


@pytest.fixture(scope="module")
def token_setup() -> Iterator[tuple]:
    directory = tempfile.mkdtemp(prefix="rootless-token-")
    with TokenServer(directory) as tokens:
        reg = start_registry(tokens.registry_config())
        try:
            yield reg, tokens
        finally:
            stop_registry(reg)
    shutil.rmtree(directory, ignore_errors=True)


def push_with_token(reg, tokens: TokenServer, images) -> None:  # type: ignore[no-untyped-def]
    """Seed the registry: a requests session carrying a push token."""
    token = tokens.sign("tester", [{"type": "repository", "name": "tokened", "actions": ["pull", "push"]}])
    client = imagebuild.Registry(reg.host)
    client.session.headers["Authorization"] = f"Bearer {token}"
    base = images.busybox_layer
    client.push_image("tokened", "1", [base], imagebuild.image_config([base]))


def test_bearer_pull_push_and_login(fresh_engine, token_setup, images) -> None:  # type: ignore[no-untyped-def]
    reg, tokens = token_setup
    push_with_token(reg, tokens, images)
    fresh_engine.cli("info")
    ref = f"{reg.host}/tokened:1"
    # Anonymous tokens may pull.
    assert "Pull complete" in fresh_engine.docker("pull", ref).stdout
    assert any(not authed and params.get("scope") == ["repository:tokened:pull"]
               for _, params, authed in tokens.requests)
    target = f"{reg.host}/tokened:2"
    fresh_engine.docker("tag", ref, target)
    denied = fresh_engine.docker("push", target, check=False)
    assert denied.returncode != 0 and ("denied" in denied.stdout + denied.stderr
                                       or "unauthorized" in denied.stdout + denied.stderr)
    wrong = fresh_engine.docker("login", "-u", "tester", "--password-stdin", reg.host, input="nope\n", check=False)
    assert wrong.returncode == 1
    assert "Login Succeeded" in fresh_engine.docker("login", "-u", "tester", "--password-stdin", reg.host,
                                                    input="secret\n").stdout
    assert "2: digest: sha256:" in fresh_engine.docker("push", target).stdout
    # rootless's login keeps the identity token the server issued; pulls then use the refresh grant.
    fresh_engine.docker("logout", reg.host)
    assert fresh_engine.cli("login", "-u", "tester", "--password-stdin", reg.host,
                            input="secret\n").stdout.strip() == "Login Succeeded"
    fresh_engine.cli("rmi", target)
    before = len(tokens.requests)
    assert f"Status: Downloaded newer image for {target}" in fresh_engine.cli("pull", target).stdout
    assert any(method == "POST" and authed for method, _, authed in tokens.requests[before:])
