"""Broken registries and hostile layers, through the daemon: `rootless pull` and `docker pull`.

Each failure must be one line naming what is wrong, and must leave the store
as it was: no image record, no blob of the bad data, no half-unpacked layer,
no ingest left behind; a correct pull afterwards works. The in-process fake
registry (tests/fakes) serves what docker-registry would refuse to store: a
blob whose bytes do not match its digest, a blob cut short, a manifest that
is not JSON.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Dict, Iterator, List

import pytest

from tests import imagebuild
from tests.fakes.registry import FakeRegistry
from tests.imagebuild import Layer, TarBuilder
from tests.integration.conftest import Engine, kill_engine_processes, make_engine


def store_leftovers(root: str) -> Dict[str, List[str]]:
    """What an interrupted or failed pull could leave: ingests and unpack temp dirs."""
    found = {}
    for sub in ("ingest", "layers"):
        path = os.path.join(root, sub)
        names = sorted(os.listdir(path)) if os.path.isdir(path) else []
        found[sub] = [n for n in names if sub == "ingest" or n.startswith(".tmp-")]
    return found


def blob_names(root: str) -> List[str]:
    path = os.path.join(root, "blobs", "sha256")
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def push(fake: FakeRegistry, repo: str, layers: List[Layer], tag: str = "1") -> None:
    """An image of real layers (gzip, matching diff_ids) into the fake."""
    config = imagebuild.image_config(layers)
    manifest = {
        "schemaVersion": 2, "mediaType": imagebuild.DOCKER_MANIFEST,
        "config": {"mediaType": imagebuild.DOCKER_CONFIG, "digest": fake.add_blob(repo, config),
                   "size": len(config)},
        "layers": [{"mediaType": imagebuild.DOCKER_LAYER, "digest": fake.add_blob(repo, layer.blob),
                    "size": len(layer.blob)} for layer in layers],
    }
    fake.add_manifest(repo, tag, json.dumps(manifest).encode(), imagebuild.DOCKER_MANIFEST)


def unique_layer(name: str) -> Layer:
    """A small layer of its own (so corrupting it touches no other image), a few hundred kB."""
    return Layer(TarBuilder().file(f"{name}.bin", os.urandom(300_000)).bytes())


@pytest.fixture(scope="module")
def bad_registry(images) -> Iterator[FakeRegistry]:  # type: ignore[no-untyped-def]
    base = images.busybox_layer
    with FakeRegistry() as fake:
        push(fake, "good", [base])
        corrupt, truncated = unique_layer("corrupt"), unique_layer("truncated")
        push(fake, "corrupt", [base, corrupt])
        fake.corrupt.add(corrupt.digest)
        push(fake, "truncated", [base, truncated])
        fake.truncate[truncated.digest] = [1000, None]  # every attempt is cut short
        fake.add_manifest("malformed", "1", b'{"schemaVersion": 2, "layers": [', imagebuild.DOCKER_MANIFEST)
        no_digest = {"schemaVersion": 2, "mediaType": imagebuild.DOCKER_MANIFEST,
                     "config": {"mediaType": imagebuild.DOCKER_CONFIG, "digest": base.digest, "size": 1},
                     "layers": [{"mediaType": imagebuild.DOCKER_LAYER, "size": 1}]}
        fake.add_manifest("nodigest", "1", json.dumps(no_digest).encode(), imagebuild.DOCKER_MANIFEST)
        fake.schema1.add(("schema1", "1"))
        push(fake, "dotdot", [base, Layer(TarBuilder().file("../escaped", b"x\n").bytes())])
        evil_link = TarBuilder().symlink("link", "/tmp").file("link/escaped", b"x\n").bytes()
        push(fake, "symlink", [base, Layer(evil_link)])
        yield fake


@pytest.fixture(scope="module")
def bad_engine(user) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """One engine for the module; each test starts from an empty store (see clean_store)."""
    base = tempfile.mkdtemp(prefix="rootless-badinput-", dir="/tmp")
    eng = make_engine(user, base)
    eng.cli("info")
    yield eng
    eng.stop()
    kill_engine_processes(eng.run_dir)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def clean_store(bad_engine: Engine) -> Iterator[Engine]:
    assert bad_engine.cli("images", "-q").stdout.strip() == ""
    yield bad_engine
    bad_engine.cli("image", "prune", "-a", "-f")


# (repository, what the one-line error must name)
CASES = [
    ("corrupt", "digest mismatch"),
    ("truncated", "truncated after"),
    ("malformed", "can't parse manifest: {host}/malformed:1: invalid JSON"),
    ("nodigest", "can't parse manifest: {host}/nodigest:1: layers[0]: invalid digest ''"),
    ("dotdot", "'../escaped': path escapes the layer"),
    ("symlink", "'link/escaped': parent 'link' is a symlink"),
    ("schema1", "unsupported manifest: schema1: {host}/schema1:1"),
    ("unknown", "manifest unknown"),
]


def error_lines(stderr: str) -> List[str]:
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("hint:")]


@pytest.mark.parametrize("repo,reason", CASES)
@pytest.mark.parametrize("tool", ["rootless", "docker"])
def test_bad_pull_is_one_line_and_leaves_nothing(clean_store: Engine, bad_registry: FakeRegistry, tool: str,
                                                 repo: str, reason: str) -> None:
    engine = clean_store
    ref = f"{bad_registry.host}/{repo}:1"
    run = engine.cli if tool == "rootless" else engine.docker
    failed = run("pull", ref, check=False)
    assert failed.returncode == 1, failed
    lines = error_lines(failed.stderr)
    assert len(lines) == 1 and reason.format(host=bad_registry.host) in lines[0], failed.stderr
    assert "Traceback" not in failed.stderr
    assert engine.cli("images", "-q").stdout.strip() == ""
    assert store_leftovers(engine.root) == {"ingest": [], "layers": []}
    bad_blobs = {d.split(":")[1] for d in (bad_registry.corrupt | set(bad_registry.truncate))}
    assert not bad_blobs & set(blob_names(engine.root))
    good = f"{bad_registry.host}/good:1"
    assert f"Downloaded newer image for {good}" in run("pull", good).stdout


def test_a_fixed_blob_pulls_after_a_failure(clean_store: Engine, bad_registry: FakeRegistry,
                                            images) -> None:  # type: ignore[no-untyped-def]
    """The bad data is discarded, not trusted: once the registry serves the right bytes, the pull works."""
    layer = unique_layer("fixed")
    push(bad_registry, "fixed", [images.busybox_layer, layer])
    bad_registry.corrupt.add(layer.digest)
    try:
        failed = clean_store.cli("pull", f"{bad_registry.host}/fixed:1", check=False)
        assert "digest mismatch" in failed.stderr
    finally:
        bad_registry.corrupt.discard(layer.digest)
    assert "Pull complete" in clean_store.cli("pull", f"{bad_registry.host}/fixed:1").stdout
    assert clean_store.cli("images", "--format", "{{.Repository}}").stdout.split() == [
        f"{bad_registry.host}/fixed"]
    out = clean_store.docker("run", "--rm", f"{bad_registry.host}/fixed:1", "ls", "/fixed.bin")
    assert out.stdout.strip() == "/fixed.bin"
