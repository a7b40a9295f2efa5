"""A daemon SIGKILLed in the middle of a pull: after a restart the store is consistent
(no image record, no half-written blob or layer anywhere) and the pull succeeds."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import List

import pytest

from tests import imagebuild
from tests.imagebuild import Layer, TarBuilder
from tests.integration.conftest import VENV_PYTHON

LAYER_BYTES = 24 << 20  # random data: gzip cannot shrink it, so each blob is this big


@pytest.fixture(scope="module")
def big_image(registry, images) -> str:  # type: ignore[no-untyped-def]
    """busybox and three layers of random data, ~72 MB to download."""
    layers = [images.busybox_layer] + [
        Layer(TarBuilder().file(f"big{i}.bin", os.urandom(LAYER_BYTES)).bytes()) for i in range(3)]
    registry.client.push_image("big", "1", layers, imagebuild.image_config(layers))
    return f"{registry.host}/big:1"


def in_progress(root: str) -> List[str]:
    """Partial work a pull has on disk right now: ingests with data, unpacks under way."""
    found = []
    ingest = os.path.join(root, "ingest")
    for name in os.listdir(ingest) if os.path.isdir(ingest) else []:
        data = os.path.join(ingest, name, "data")
        if os.path.exists(data) and os.path.getsize(data) > 0:
            found.append(f"ingest/{name}")
    layers = os.path.join(root, "layers")
    found += [f"layers/{n}" for n in os.listdir(layers) if n.startswith(".tmp-")] if os.path.isdir(layers) else []
    return found


def wait_for(predicate, timeout: float, interval: float = 0.002):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def index_records(root: str) -> dict:
    path = os.path.join(root, "images", "index.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return dict(json.load(f).get("images", {}))


def test_sigkill_during_pull_then_restart(fresh_engine, big_image: str) -> None:  # type: ignore[no-untyped-def]
    fresh_engine.cli("info")
    pid = fresh_engine.daemon_pid()
    pull = fresh_engine.user.popen([VENV_PYTHON, "-m", "rootless.cli", "pull", big_image],
                                   env=fresh_engine.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        partial = wait_for(lambda: in_progress(fresh_engine.root), timeout=60)
        os.kill(pid, signal.SIGKILL)
        _, stderr = pull.communicate(timeout=60)
    finally:
        if pull.poll() is None:
            pull.kill()
    assert partial, "the pull finished before it could be interrupted"
    assert pull.returncode == 1 and b"Traceback" not in stderr
    assert b"rootlessd closed the connection before the end of the response" in stderr  # not a quiet success
    assert index_records(fresh_engine.root) == {}
    fresh_engine.cli("info")  # a new daemon, started on demand
    assert in_progress(fresh_engine.root) == []
    assert os.listdir(os.path.join(fresh_engine.root, "ingest")) == []
    assert fresh_engine.cli("images", "-q").stdout.strip() == ""
    out = fresh_engine.cli("pull", big_image, timeout=300).stdout
    assert f"Downloaded newer image for {big_image}" in out
    listing = fresh_engine.docker("run", "--rm", big_image, "ls", "/").stdout.split()
    assert {"big0.bin", "big1.bin", "big2.bin"} <= set(listing)
