"""Pull safety in engine/image_pull.py against the fake registry: unknown media types are
refused before anything is stored, an abandoned pull stops and cleans up, and a download
another pull waits for goes on for that one."""
from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from rootless.config import Paths, Settings
from rootless.engine.events import EventBus
from rootless.engine.image_pull import PullJob
from rootless.engine.images import ImageService
from rootless.errors import InvalidArgument, RootlessError
from rootless.images.store import ImageStore
from rootless.registry.auth import DockerConfig
from tests.fakes.registry import FakeRegistry
from tests.unit.engine.test_images import push_test_image

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as server:
        yield server


@pytest.fixture
def service(tmp_path: Any) -> ImageService:
    store = ImageStore(Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run")))
    return ImageService(store, Settings(), EventBus(), docker_config=DockerConfig(str(tmp_path / "cfg.json")))


def ingests(service: ImageService) -> List[str]:
    path = service.store.paths.ingest
    return os.listdir(path) if os.path.isdir(path) else []


def wait_for(predicate: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.01)
    return predicate()


def slow_image(fake: FakeRegistry, interval: float = 0.05) -> str:
    """An image whose one layer (random, so gzip cannot shrink it) the fake sends slowly.

    interval 0: after the first 64 KiB nothing at all, so the download sits in a receive.
    """
    push_test_image(fake, "slow", "1", [{"big": os.urandom(300 << 10)}])
    layer = json.loads(fake.manifests[("slow", "1")][0])["layers"][0]["digest"]
    fake.slow[layer] = (64 << 10, interval)
    fake.held.add(layer)  # trickles until fake.release(), then the rest at once
    return str(layer)


class Consumer:
    """Reads a pull's events in a thread, as the API handler does."""

    def __init__(self, job: PullJob) -> None:
        self.job, self.events = job, []  # type: ignore[var-annotated]
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        try:
            for event in self.job.events():
                self.events.append(event)
        except RootlessError as exc:
            self.error = exc

    def statuses(self) -> List[str]:
        return [str(e.get("status")) for e in self.events]


def test_unknown_layer_media_type_is_refused_before_anything_is_stored(fake: FakeRegistry,
                                                                      service: ImageService) -> None:
    push_test_image(fake, "odd", "1", [{"a": b"a"}])
    manifest = json.loads(fake.manifests[("odd", "1")][0])
    manifest["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+bzip2"
    fake.add_manifest("odd", "1", json.dumps(manifest).encode(), DOCKER_MANIFEST)
    with pytest.raises(InvalidArgument, match=r"^pull .*/odd:1: layers\[0\]: unsupported layer media type "
                                              r"'application/vnd.oci.image.layer.v1.tar\+bzip2'$"):
        service.pull(f"{fake.host}/odd:1")
    assert fake.paths("GET") == [p for p in fake.paths("GET") if "/blobs/" not in p]  # not one blob fetched
    assert service.store.list() == [] and ingests(service) == []


@pytest.mark.parametrize("interval", [0.05, 0])
def test_abandoned_pull_stops_and_removes_its_ingest(fake: FakeRegistry, service: ImageService,
                                                     interval: float) -> None:
    slow_image(fake, interval)
    consumer = Consumer(service.pull(f"{fake.host}/slow:1"))
    assert wait_for(lambda: "Downloading" in consumer.statuses())
    assert ingests(service)
    consumer.job.abandon()
    consumer.thread.join(3)  # a silent registry too: the receive is interrupted, not waited out (60 s)
    assert not consumer.thread.is_alive()
    assert consumer.error is not None and "cancelled" in str(consumer.error)
    assert ingests(service) == [] and service.store.list() == []


def test_download_another_pull_waits_for_goes_on(fake: FakeRegistry, service: ImageService) -> None:
    layer = slow_image(fake)
    first = Consumer(service.pull(f"{fake.host}/slow:1"))
    assert wait_for(lambda: "Downloading" in first.statuses())
    second = Consumer(service.pull(f"{fake.host}/slow:1"))
    assert wait_for(lambda: "Pulling fs layer" in second.statuses())
    time.sleep(0.3)  # the second's task is waiting for the first's download of the layer now
    first.job.abandon()
    time.sleep(0.5)
    assert first.thread.is_alive()  # still downloading, for the second
    fake.release()
    second.thread.join(30)
    first.thread.join(30)
    assert second.error is None and second.statuses()[-1].startswith("Status: Downloaded newer image")
    assert first.error is not None and "cancelled" in str(first.error)  # its own pull did not complete
    assert fake.blob_gets(layer) == 1  # one download served both
    assert len(service.store.list()) == 1 and ingests(service) == []


@pytest.mark.parametrize("interval", [0.05, 0])
def test_abandoning_both_pulls_stops_the_shared_download(fake: FakeRegistry, service: ImageService,
                                                         interval: float) -> None:
    slow_image(fake, interval)
    first = Consumer(service.pull(f"{fake.host}/slow:1"))
    assert wait_for(lambda: "Downloading" in first.statuses())
    second = Consumer(service.pull(f"{fake.host}/slow:1"))
    assert wait_for(lambda: "Pulling fs layer" in second.statuses())
    time.sleep(0.3)
    first.job.abandon()
    time.sleep(0.3)
    assert first.thread.is_alive()
    second.job.abandon()
    for consumer in (first, second):
        consumer.thread.join(3)
        assert not consumer.thread.is_alive() and "cancelled" in str(consumer.error)
    assert ingests(service) == [] and service.store.list() == []


def test_events_are_docker_shaped_after_a_refusal(fake: FakeRegistry, service: ImageService) -> None:
    """The refusal happens while resolving: an HTTP error status, not an in-band one."""
    hostile = "application/vnd.hostile.unknown.manifest.v9+json"
    push_test_image(fake, "evil", "1", [{"a": b"a"}])
    data, _ = fake.manifests[("evil", "1")]
    doc: Dict[str, Any] = json.loads(data)
    doc["mediaType"] = hostile
    fake.add_manifest("evil", "1", json.dumps(doc).encode(), hostile)
    with pytest.raises(InvalidArgument) as caught:
        service.pull(f"{fake.host}/evil:1")
    assert caught.value.message == f"get manifest: {fake.host}/evil:1: unsupported manifest media type '{hostile}'"
    assert caught.value.http_status == 400 and service.store.list() == []
