"""Issue 14: contexts live in the docker CLI's store, so one made by either CLI works in both."""
from __future__ import annotations

import json
import uuid

import pytest

from tests.integration.remote.conftest import TlsEngine

pytestmark = pytest.mark.integration
NO_HOST = {"DOCKER_HOST": ""}  # the engine fixture's DOCKER_HOST would override every context


def _endpoint(tls_engine: TlsEngine) -> str:
    certs = tls_engine.client
    return f"host={tls_engine.url},ca={certs.ca},cert={certs.cert},key={certs.key}"


def _volumes(tls_engine: TlsEngine) -> "list[str]":
    return tls_engine.engine.cli("volume", "ls", "-q").stdout.split()


def test_context_made_by_docker_works_in_ours(tls_engine: TlsEngine) -> None:
    eng = tls_engine.engine
    name = f"dk-{uuid.uuid4().hex[:6]}"
    eng.docker("context", "create", name, "--docker", _endpoint(tls_engine), env=NO_HOST)
    try:
        volume = f"ctx-flag-{uuid.uuid4().hex[:6]}"
        eng.cli("--context", name, "volume", "create", volume, env=NO_HOST)
        assert volume in _volumes(tls_engine)
        volume = f"ctx-env-{uuid.uuid4().hex[:6]}"
        eng.cli("volume", "create", volume, env={**NO_HOST, "DOCKER_CONTEXT": name})
        assert volume in _volumes(tls_engine)
        eng.docker("context", "use", name, env=NO_HOST)
        volume = f"ctx-current-{uuid.uuid4().hex[:6]}"
        eng.cli("volume", "create", volume, env=NO_HOST)
        assert volume in _volumes(tls_engine)
        assert eng.cli("context", "show", env=NO_HOST).stdout.strip() == name
        listed = eng.cli("context", "ls", env=NO_HOST).stdout
        assert f"{name} *" in listed and tls_engine.url in listed
    finally:
        eng.docker("context", "use", "default", env=NO_HOST)
        eng.docker("context", "rm", "-f", name, env=NO_HOST)


def test_context_made_by_ours_works_in_docker(tls_engine: TlsEngine) -> None:
    eng = tls_engine.engine
    name = f"rl-{uuid.uuid4().hex[:6]}"
    eng.cli("context", "create", name, "--description", "ours", "--docker", _endpoint(tls_engine), env=NO_HOST)
    try:
        volume = f"ctx-docker-{uuid.uuid4().hex[:6]}"
        eng.docker("--context", name, "volume", "create", volume, env=NO_HOST)
        assert volume in _volumes(tls_engine)
        inspected = json.loads(eng.docker("context", "inspect", name, env=NO_HOST).stdout)[0]
        assert inspected["Endpoints"]["docker"]["Host"] == tls_engine.url
        assert inspected["Metadata"]["Description"] == "ours"
        assert sorted(inspected["TLSMaterial"]["docker"]) == ["ca.pem", "cert.pem", "key.pem"]
        ours = json.loads(eng.cli("context", "inspect", name, env=NO_HOST).stdout)[0]
        assert ours["Storage"] == inspected["Storage"] and ours["TLSMaterial"] == inspected["TLSMaterial"]
        eng.cli("context", "use", name, env=NO_HOST)
        assert eng.docker("context", "show", env=NO_HOST).stdout.strip() == name
        eng.cli("context", "use", "default", env=NO_HOST)
    finally:
        eng.cli("context", "rm", "-f", name, env=NO_HOST)
    assert name not in eng.docker("context", "ls", "-q", env=NO_HOST).stdout.split()
