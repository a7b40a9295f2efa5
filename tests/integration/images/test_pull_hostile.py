"""Pulls from a hostile registry (tests/fakes/registry.py on 127.0.0.1, reached by the real
daemon): unknown media types are refused, a stalled layer gives up within bounded time, and a
pull whose client went away is cancelled unless another client waits for the same image."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from typing import Any, Callable, Iterator, List, Tuple

import pytest

from tests import imagebuild
from tests.fakes.registry import FakeRegistry
from tests.imagebuild import Layer, TarBuilder
from tests.integration.conftest import DOCKER, VENV_PYTHON

HOSTILE = "application/vnd.hostile.unknown.manifest.v9+json"


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as server:
        yield server


def add_image(fake: FakeRegistry, repo: str, media_type: str = imagebuild.DOCKER_MANIFEST,
              layer_type: str = imagebuild.DOCKER_LAYER) -> Tuple[str, str]:
    """A real image with one layer of random data; returns (reference, layer digest)."""
    layer = Layer(TarBuilder().file("big.bin", os.urandom(512 << 10)).bytes())
    config = imagebuild.image_config([layer])
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": media_type,
        "config": {"mediaType": imagebuild.DOCKER_CONFIG, "digest": fake.add_blob(repo, config),
                   "size": len(config)},
        "layers": [{"mediaType": layer_type, "digest": fake.add_blob(repo, layer.blob), "size": len(layer.blob)}],
    }).encode()
    fake.add_manifest(repo, "1", manifest, media_type)
    return f"{fake.host}/{repo}:1", layer.digest


def stored_nothing(engine: Any) -> None:
    assert engine.cli("images", "-q").stdout.strip() == ""
    ingest = os.path.join(engine.root, "ingest")
    assert not os.path.isdir(ingest) or os.listdir(ingest) == []


def blob_gets(fake: FakeRegistry) -> List[str]:
    return [p for p in fake.paths("GET") if "/blobs/" in p]


def test_unknown_manifest_media_type_is_refused(fresh_engine: Any, fake: FakeRegistry) -> None:
    ref, _ = add_image(fake, "evil", media_type=HOSTILE)
    expected = f"get manifest: {ref}: unsupported manifest media type '{HOSTILE}'"
    ours = fresh_engine.cli("pull", ref, check=False)
    assert ours.returncode == 1 and expected in ours.stderr and "Traceback" not in ours.stderr
    docker = fresh_engine.docker("pull", ref, check=False)
    assert docker.returncode != 0 and f"Error response from daemon: {expected}" in docker.stderr
    assert blob_gets(fake) == []
    stored_nothing(fresh_engine)


def test_unknown_layer_media_type_is_refused(fresh_engine: Any, fake: FakeRegistry) -> None:
    ref, _ = add_image(fake, "odd", layer_type="application/vnd.oci.image.layer.v1.tar+bzip2")
    ours = fresh_engine.cli("pull", ref, check=False)
    assert ours.returncode == 1
    assert (f"pull {ref}: layers[0]: unsupported layer media type "
            "'application/vnd.oci.image.layer.v1.tar+bzip2'") in ours.stderr
    stored_nothing(fresh_engine)


def configure(engine: Any, text: str) -> None:
    directory = os.path.join(engine.config_home, "rootless")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.toml"), "w") as f:
        f.write(text)
    for path in (directory, os.path.join(directory, "config.toml")):
        os.chown(path, engine.user.uid, engine.user.gid)


def test_stalled_layer_gives_up_with_a_clear_message(fresh_engine: Any, fake: FakeRegistry) -> None:
    configure(fresh_engine, "pull_stall_timeout = 3\n")
    silent, silent_layer = add_image(fake, "silent")
    fake.slow[silent_layer], fake.held = (64 << 10, 0), {silent_layer}  # 64 KiB, then nothing
    trickle, trickle_layer = add_image(fake, "trickle")
    fake.slow[trickle_layer] = (64 << 10, 1.0)  # 64 KiB, then one byte a second
    fresh_engine.cli("info")
    for ref, layer, reason in ((silent, silent_layer, f"no data from {fake.host} for 3 s"),
                               (trickle, trickle_layer, f"too slow: ")):
        started = time.monotonic()
        result = fresh_engine.cli("pull", ref, check=False, timeout=60)
        elapsed = time.monotonic() - started
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert f"can't pull {ref}: blob {layer}: {reason}" in result.stderr
        assert 3 <= elapsed < 15
        assert fake.blob_gets(layer) == 1  # not retried
    stored_nothing(fresh_engine)


class PullClient:
    """`rootless pull` (or `docker pull`) in the background, its output collected line by line."""

    def __init__(self, engine: Any, ref: str, tool: str = "rootless") -> None:
        argv = [VENV_PYTHON, "-m", "rootless.cli"] if tool == "rootless" else [DOCKER]
        self.proc = engine.user.popen([*argv, "pull", ref], env=engine.env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: List[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def finish(self, timeout: float) -> str:
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.reader.join(5)
        return "\n".join(self.lines)


def wait_for(predicate: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return predicate()
        time.sleep(0.05)
    return predicate()


def ingests(engine: Any) -> List[str]:
    ingest = os.path.join(engine.root, "ingest")
    return os.listdir(ingest) if os.path.isdir(ingest) else []


def downloading(engine: Any, digest: str) -> bool:
    """Whether the daemon has an ingest of digest under way (store.py names them by its start)."""
    return any(name.startswith(digest[len("sha256:"):][:16]) for name in ingests(engine))


def slow_image(fake: FakeRegistry, interval: float = 1.0) -> Tuple[str, str]:
    """64 KiB of the layer at once, then a byte every interval (none at all for 0) until released."""
    ref, layer = add_image(fake, "slow")
    fake.slow[layer], fake.held = (64 << 10, interval), {layer}
    return ref, layer


@pytest.mark.parametrize("tool,interval", [("rootless", 1.0), ("rootless", 0), ("docker", 0)],
                         ids=["trickle", "silent", "docker-silent"])
def test_killed_client_cancels_the_pull(fresh_engine: Any, fake: FakeRegistry, tool: str, interval: float) -> None:
    """Silent: the daemon has nothing to write, so only watching the socket notices the hangup."""
    ref, layer = slow_image(fake, interval)
    fresh_engine.cli("info")
    client = PullClient(fresh_engine, ref, tool)
    try:
        assert wait_for(lambda: downloading(fresh_engine, layer), 30), client.lines
        client.kill()
        assert wait_for(lambda: not ingests(fresh_engine), 5), "the daemon kept downloading for nobody"
    finally:
        client.finish(10)
    # the ingest goes before the download's thread logs its end: wait for the line, don't race it
    cancelled = f"pull {ref}: blob {layer}: download cancelled"
    assert wait_for(lambda: cancelled in fresh_engine.log(), 10), fresh_engine.log()
    assert f"pull {ref}: the client went away, cancelling" in fresh_engine.log()
    stored_nothing(fresh_engine)


def test_killing_one_of_two_clients_keeps_the_other_pull(fresh_engine: Any, fake: FakeRegistry) -> None:
    ref, layer = slow_image(fake)
    fresh_engine.cli("info")
    first = PullClient(fresh_engine, ref)
    second = None
    try:
        assert wait_for(lambda: downloading(fresh_engine, layer), 30), first.lines
        second = PullClient(fresh_engine, ref)
        assert wait_for(lambda: any(line.endswith(": Pulling fs layer") for line in second.lines), 30)
        time.sleep(1)  # its download task now waits for the first's
        first.kill()
        time.sleep(2)
        assert downloading(fresh_engine, layer), "the shared download was cancelled though a client waits for it"
        assert second.proc.poll() is None
        fake.release()
        out = second.finish(60)
        assert second.proc.returncode == 0, out
        assert f"Status: Downloaded newer image for {ref}" in out
    finally:
        first.finish(10)
        if second is not None:
            second.finish(10)
    assert fake.blob_gets(layer) == 1  # the first's download served the second
    assert f"pull {ref}: the client went away, cancelling" in fresh_engine.log()
    assert fresh_engine.cli("images", "-q").stdout.strip() != ""
    assert ingests(fresh_engine) == []
