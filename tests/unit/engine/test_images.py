from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from rootless.config import Paths, Settings
from rootless.engine.events import EventBus
from rootless.engine.images import ImageService, created_unix, familiar
from rootless.errors import Conflict, InvalidArgument, NotFound, Unavailable
from rootless.images.store import ImageStore
from rootless.registry.auth import Credentials, DockerConfig
from tests.fakes.registry import FakeRegistry, digest_of

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def layer_tar(files: Dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1700000000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def push_test_image(fake: FakeRegistry, repo: str, tag: str, layer_files: List[Dict[str, bytes]],
                    arch: str = "amd64", labels: Optional[Dict[str, str]] = None) -> Tuple[str, int]:
    """A real image (gzip layers, matching diff_ids) in the fake registry."""
    tars = [layer_tar(files) for files in layer_files]
    blobs = [gzip.compress(t, mtime=0) for t in tars]
    config = json.dumps({
        "architecture": arch, "os": "linux", "created": "2024-01-02T03:04:05.123456789Z",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "Labels": labels or {}},
        "rootfs": {"type": "layers", "diff_ids": [digest_of(t) for t in tars]},
        "history": [{"created_by": f"layer {i}"} for i in range(len(tars))],
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": fake.add_blob(repo, config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": fake.add_blob(repo, b), "size": len(b)} for b in blobs],
    }).encode()
    return fake.add_manifest(repo, tag, manifest, DOCKER_MANIFEST), len(manifest)


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as server:
        yield server


@pytest.fixture
def service(tmp_path: Any) -> ImageService:
    store = ImageStore(Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run")))
    config = DockerConfig(str(tmp_path / "docker" / "config.json"))
    return ImageService(store, Settings(), EventBus(), docker_config=config)


def pull(service: ImageService, name: str, **kwargs: Any) -> List[Dict[str, Any]]:
    return list(service.pull(name, **kwargs).events())


def statuses(events: List[Dict[str, Any]]) -> List[str]:
    return [f"{e['id']}: {e['status']}" if "id" in e else e["status"]
            for e in events if "status" in e and "current" not in e.get("progressDetail", {})]


def test_pull_progress_and_record(fake: FakeRegistry, service: ImageService) -> None:
    digest, _ = push_test_image(fake, "app", "1", [{"a": b"a"}, {"b": b"b"}])
    events = pull(service, f"{fake.host}/app:1")
    shown = statuses(events)
    assert shown[0] == "1: Pulling from app"
    assert shown[-2:] == [f"Digest: {digest}", f"Status: Downloaded newer image for {fake.host}/app:1"]
    layer_ids = [e["id"] for e in events if e.get("status") == "Pulling fs layer"]
    assert len(layer_ids) == 2
    for layer_id in layer_ids:
        order = [s for s in shown if s.startswith(layer_id)]
        assert order == [f"{layer_id}: {s}" for s in ("Pulling fs layer", "Verifying Checksum",
                                                       "Download complete", "Extracting", "Pull complete")]
    downloading = [e for e in events if e.get("status") == "Downloading"]
    assert downloading and downloading[-1]["progressDetail"]["current"] == downloading[-1]["progressDetail"]["total"]
    record = service.get(f"{fake.host}/app:1")
    assert record.repo_digests == [f"{fake.host}/app@{digest}"]
    assert service.inspect(f"{fake.host}/app:1")["RepoTags"] == [f"{fake.host}/app:1"]


def test_second_pull_is_up_to_date(fake: FakeRegistry, service: ImageService) -> None:
    push_test_image(fake, "app", "1", [{"a": b"a"}])
    pull(service, f"{fake.host}/app:1")
    events = pull(service, f"{fake.host}/app:1")
    assert statuses(events)[-1] == f"Status: Image is up to date for {fake.host}/app:1"
    assert not [e for e in events if e.get("status") == "Pulling fs layer"]


def test_shared_layer_already_exists(fake: FakeRegistry, service: ImageService) -> None:
    push_test_image(fake, "base", "1", [{"a": b"a"}])
    push_test_image(fake, "child", "1", [{"a": b"a"}, {"c": b"c"}])
    pull(service, f"{fake.host}/base:1")
    shown = statuses(pull(service, f"{fake.host}/child:1"))
    assert sum(s.endswith(": Already exists") for s in shown) == 1
    assert sum(s.endswith(": Pull complete") for s in shown) == 1


def test_concurrent_pulls_fetch_each_blob_once(fake: FakeRegistry, service: ImageService) -> None:
    push_test_image(fake, "app", "1", [{"big": bytes(range(256)) * 4096}])
    real_ingest = service.store.ingest

    def slow_ingest(*args: Any, **kwargs: Any) -> Any:  # keeps both downloads in flight together
        writer = real_ingest(*args, **kwargs)
        write = writer.write
        writer.write = lambda data: (time.sleep(0.01), write(data))[1]  # type: ignore[method-assign]
        return writer
    service.store.ingest = slow_ingest  # type: ignore[method-assign]
    results: List[Any] = []
    threads = [threading.Thread(target=lambda: results.append(pull(service, f"{fake.host}/app:1")))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 2 and len(service.store.list()) == 1
    layer = json.loads(fake.manifests[("app", "1")][0])["layers"][0]["digest"]
    assert fake.paths("GET").count(f"/v2/app/blobs/{layer}") == 1


def test_pull_by_digest_and_platform_from_index(fake: FakeRegistry, service: ImageService) -> None:
    entries = []
    for arch in ("amd64", "arm64"):
        digest, size = push_test_image(fake, "multi", f"only-{arch}", [{"arch": arch.encode()}], arch=arch)
        entries.append({"mediaType": DOCKER_MANIFEST, "digest": digest, "size": size,
                        "platform": {"os": "linux", "architecture": arch}})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    index_digest = fake.add_manifest("multi", "latest", index, OCI_INDEX)
    pull(service, f"{fake.host}/multi", platform="linux/arm64")
    record = service.get(f"{fake.host}/multi")
    assert record.config.architecture == "arm64"
    assert record.repo_digests == [f"{fake.host}/multi@{index_digest}"]
    events = pull(service, f"{fake.host}/multi@{entries[0]['digest']}")
    assert statuses(events)[-1] == f"Status: Downloaded newer image for {fake.host}/multi@{entries[0]['digest']}"
    assert service.get(f"{fake.host}/multi@{entries[0]['digest']}").config.architecture == "amd64"


def test_pull_missing_is_not_found_before_streaming(fake: FakeRegistry, service: ImageService) -> None:
    with pytest.raises(NotFound, match="manifest unknown"):
        service.pull(f"{fake.host}/nope")
    with pytest.raises(InvalidArgument, match="invalid platform"):
        service.pull(f"{fake.host}/nope", platform="linux")


def test_corrupt_layer_fails_and_records_nothing(fake: FakeRegistry, service: ImageService) -> None:
    push_test_image(fake, "app", "1", [{"a": b"a"}, {"b": b"b" * 5000}])
    manifest = json.loads(fake.manifests[("app", "1")][0])
    fake.corrupt.add(manifest["layers"][1]["digest"])
    with pytest.raises(Unavailable, match="digest mismatch"):
        pull(service, f"{fake.host}/app:1")
    assert service.store.list() == []
    assert not service.store.has_blob(manifest["layers"][1]["digest"])


def test_pull_with_credentials_from_docker_config(fake: FakeRegistry, service: ImageService) -> None:
    fake.auth = "bearer"
    push_test_image(fake, "app", "1", [{"a": b"a"}])
    with pytest.raises(Exception, match="authentication required"):
        service.pull(f"{fake.host}/app:1")
    service.docker_config.store(fake.host, Credentials("alice", "secret"))
    pull(service, f"{fake.host}/app:1")
    assert service.exists(f"{fake.host}/app:1")


def test_pull_with_the_requests_credentials(fake: FakeRegistry, service: ImageService) -> None:
    """A request's credentials (X-Registry-Auth, decoded by api/registry_auth.py) beat the docker config."""
    fake.auth = "basic"
    push_test_image(fake, "app", "1", [{"a": b"a"}])
    list(service.pull(f"{fake.host}/app:1", credentials=Credentials("alice", "secret")).events())
    assert service.exists(f"{fake.host}/app:1")


def test_tag_push_and_mount(fake: FakeRegistry, service: ImageService) -> None:
    push_test_image(fake, "app", "1", [{"a": b"a"}])
    pull(service, f"{fake.host}/app:1")
    service.tag(f"{fake.host}/app:1", f"{fake.host}/copy", "v2")
    events = list(service.push(f"{fake.host}/copy:v2").events())
    shown = statuses(events)
    assert shown[0] == f"The push refers to repository [{fake.host}/copy]"
    assert any(s.endswith("Mounted from app") for s in shown)
    aux = [e["aux"] for e in events if "aux" in e][0]
    assert aux["Tag"] == "v2" and fake.manifests[("copy", "v2")][0] == fake.manifests[("app", "1")][0]
    assert f"{fake.host}/copy@{aux['Digest']}" in service.get(f"{fake.host}/copy:v2").repo_digests
    again = statuses(list(service.push(f"{fake.host}/copy:v2").events()))
    assert any(s.endswith("Layer already exists") for s in again)


def test_push_to_empty_registry_uploads(fake: FakeRegistry, service: ImageService) -> None:
    push_test_image(fake, "app", "1", [{"a": b"a"}])
    pull(service, f"{fake.host}/app:1")
    with FakeRegistry() as other:
        service.tag(f"{fake.host}/app:1", f"{other.host}/app", "1")
        shown = statuses(list(service.push(f"{other.host}/app", "1").events()))
        assert any(s.endswith(": Pushed") for s in shown)
        assert other.manifests[("app", "1")][0] == fake.manifests[("app", "1")][0]
        writes = [(r.method, r.path) for r in other.requests if r.method in ("POST", "PATCH", "PUT")]
        # blobs first (checked with HEAD, then uploaded), the manifest last: a registry
        # refuses a manifest whose blobs it does not have
        assert writes[-1] == ("PUT", "/v2/app/manifests/1")
        assert sum(1 for method, path in writes if "/blobs/uploads/" in path and method == "POST") == 2
        assert [r.method for r in other.requests if "/blobs/sha256:" in r.path][:2] == ["HEAD", "HEAD"]
    with pytest.raises(NotFound):
        service.push(f"{fake.host}/never")


def test_remove_follows_docker_rules(fake: FakeRegistry, service: ImageService) -> None:
    push_test_image(fake, "app", "1", [{"a": b"a"}])
    pull(service, f"{fake.host}/app:1")
    service.tag(f"{fake.host}/app:1", "other", "x")
    record = service.get("other:x")
    with pytest.raises(Conflict, match="referenced in multiple repositories"):
        service.remove(record.short_id)
    assert service.remove("other:x") == [{"Untagged": "other:x"}]
    service.image_users = lambda image_id: [("c" * 64, False)]
    with pytest.raises(Conflict, match="must force"):
        service.remove(f"{fake.host}/app:1")
    items = service.remove(f"{fake.host}/app:1", force=True)
    assert [list(i) for i in items] == [["Untagged"], ["Untagged"]]  # kept for its container
    service.image_users = lambda image_id: [("c" * 64, True)]
    with pytest.raises(Conflict, match="cannot be forced"):
        service.remove(record.image_id, force=True)
    service.image_users = lambda image_id: []
    assert service.remove(record.image_id) == [{"Deleted": record.image_id}]
    assert service.store.list() == []


def test_remove_last_tag_takes_digests_along(fake: FakeRegistry, service: ImageService) -> None:
    digest, _ = push_test_image(fake, "app", "1", [{"a": b"a"}])
    pull(service, f"{fake.host}/app:1")
    items = service.remove(f"{fake.host}/app:1")
    assert items[:2] == [{"Untagged": f"{fake.host}/app:1"}, {"Untagged": f"{fake.host}/app@{digest}"}]
    assert list(items[2]) == ["Deleted"]
    with pytest.raises(NotFound, match="No such image: busybox:latest"):
        service.remove("busybox")


def test_list_filters_and_shapes(fake: FakeRegistry, service: ImageService) -> None:
    push_test_image(fake, "app", "1", [{"a": b"a"}], labels={"tier": "web"})
    push_test_image(fake, "lib/tool", "2", [{"t": b"t"}])
    pull(service, f"{fake.host}/app:1")
    pull(service, f"{fake.host}/lib/tool:2")
    everything = service.list()
    assert {tuple(s["RepoTags"]) for s in everything} == {(f"{fake.host}/app:1",), (f"{fake.host}/lib/tool:2",)}
    assert everything[0]["Created"] == created_unix("2024-01-02T03:04:05Z")
    assert "VirtualSize" in service.list(api_version="1.41")[0]

    def tags(filters: Dict[str, List[str]]) -> List[str]:
        return sorted(t for s in service.list(filters) for t in s["RepoTags"])
    assert tags({"reference": [f"{fake.host}/app"]}) == [f"{fake.host}/app:1"]
    assert tags({"reference": [f"{fake.host}/*"]}) == [f"{fake.host}/app:1"]  # '*' stops at '/'
    assert tags({"reference": [f"{fake.host}/*/*:2"]}) == [f"{fake.host}/lib/tool:2"]
    assert tags({"label": ["tier=web"]}) == [f"{fake.host}/app:1"]
    assert tags({"dangling": ["true"]}) == []
    with pytest.raises(InvalidArgument, match="invalid filter"):
        service.list({"bogus": ["x"]})
    with pytest.raises(InvalidArgument, match=r"invalid filter 'dangling=\[foo\]'"):
        service.list({"dangling": ["foo"]})  # was: read as false


def test_history_and_inspect(fake: FakeRegistry, service: ImageService) -> None:
    push_test_image(fake, "app", "1", [{"a": b"a"}, {"b": b"b"}])
    pull(service, f"{fake.host}/app:1")
    rows = service.history(f"{fake.host}/app:1")
    assert [r["CreatedBy"] for r in rows] == ["layer 1", "layer 0"]
    assert rows[0]["Id"].startswith("sha256:") and rows[1]["Id"] == "<missing>"
    body = service.inspect(f"{fake.host}/app:1")
    assert body["Config"]["Cmd"] == ["sh"] and body["RootFS"]["Type"] == "layers"
    assert len(body["RootFS"]["Layers"]) == 2 and body["Os"] == "linux"


def test_save_and_load_round_trip(fake: FakeRegistry, service: ImageService, tmp_path: Any) -> None:
    push_test_image(fake, "app", "1", [{"a": b"a"}, {"b": b"b"}])
    pull(service, f"{fake.host}/app:1")
    archive = b"".join(service.save([f"{fake.host}/app:1"]))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert {"manifest.json", "index.json", "oci-layout", "repositories"} <= set(names)
    assert manifest[0]["RepoTags"] == [f"{fake.host}/app:1"]
    other = ImageService(ImageStore(Paths(root=str(tmp_path / "r2"), run=str(tmp_path / "run2"))),
                         Settings(), EventBus())
    lines = list(other.load(io.BytesIO(gzip.compress(archive))))
    assert lines == [{"stream": f"Loaded image: {fake.host}/app:1\n"}]
    assert other.get(f"{fake.host}/app:1").image_id == service.get(f"{fake.host}/app:1").image_id
    with pytest.raises(InvalidArgument, match="neither manifest.json nor index.json"):
        list(other.load(io.BytesIO(layer_tar({"x": b"y"}))))


def test_prune(fake: FakeRegistry, service: ImageService) -> None:
    push_test_image(fake, "app", "1", [{"a": b"a"}])
    pull(service, f"{fake.host}/app:1")
    assert service.prune()["ImagesDeleted"] is None
    assert service.prune({"dangling": ["false"], "label": ["nope"]})["ImagesDeleted"] is None
    assert service.prune({"dangling": ["false"], "until": ["2000-01-01T00:00:00Z"]})["ImagesDeleted"] is None
    report = service.prune({"dangling": ["false"], "label!": ["nope"], "until": ["0s"]})
    assert [list(i)[0] for i in report["ImagesDeleted"]] == ["Untagged", "Untagged", "Deleted"]
    assert report["SpaceReclaimed"] > 0


@pytest.mark.parametrize("filters,message", [
    ({"dangling": ["foo"]}, "invalid filter 'dangling=[foo]'"),   # was: silently "false"
    ({"color": ["red"]}, "invalid filter 'color'"),                # was: ignored by prune
    ({"until": ["soon"]}, 'failed to parse value as time or duration: "soon"'),
])
def test_prune_refuses_bad_filters(service: ImageService, filters: Dict[str, List[str]], message: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        service.prune(filters)
    assert exc.value.message == message


def test_disk_usage_counts_containers_and_keeps_their_layers(fake: FakeRegistry, service: ImageService) -> None:
    push_test_image(fake, "used", "1", [{"base": b"b" * 100}, {"u": b"u" * 10}])
    push_test_image(fake, "unused", "1", [{"base": b"b" * 100}, {"x": b"x" * 1000}])
    used = pull_record(service, f"{fake.host}/used:1")
    pull(service, f"{fake.host}/unused:1")
    service.image_users = lambda image_id: [("c1", False)] if image_id == used.image_id else []
    body = service.disk_usage()
    containers = {i["RepoTags"][0].split("/")[1]: i["Containers"] for i in body["Images"]}
    assert containers == {"used:1": 1, "unused:1": 0}
    unused_layer = [i for i in body["Images"] if i["Containers"] == 0][0]
    # only the unused image's own layer goes; the shared base stays for the container
    assert body["Rootless"]["ImagesReclaimable"] == unused_layer["Size"] - unused_layer["SharedSize"]
    assert 0 < body["Rootless"]["ImagesReclaimable"] < body["LayersSize"]


def pull_record(service: ImageService, name: str) -> Any:
    pull(service, name)
    return service.get(name)


def test_login_stores_and_logout_erases(fake: FakeRegistry, service: ImageService) -> None:
    fake.auth = "basic"
    assert service.login("alice", "secret", f"http://{fake.host}/v2/", store=True)["Status"] == "Login Succeeded"
    assert service.docker_config.credentials(fake.host) == Credentials("alice", "secret")
    assert service.logout(fake.host) == {"Registry": fake.host, "Removed": True}
    assert service.logout(fake.host)["Removed"] is False


def test_familiar_and_time_helpers() -> None:
    assert familiar("docker.io/library/busybox:latest") == "busybox:latest"
    assert familiar("not a ref") == "not a ref"
    assert created_unix("1970-01-01T00:01:00.999999999Z") == 60
    assert created_unix("garbage") == 0
    assert hashlib  # keeps the import list honest for the helpers above
