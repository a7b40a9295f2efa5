from __future__ import annotations

import gzip
import io
import json
import tarfile
from typing import Dict

import pytest

from rootless.config.paths import Paths
from rootless.errors import InvalidArgument
from rootless.images import layers, types
from rootless.images.archive import (
    apply_changes, import_rootfs, load_archive, save_images,
)
from rootless.images.store import ImageStore
from rootless.images.types import ContainerConfig, Platform
from tests.unit.images.layertar import LayerTar, sha256
from tests.unit.images.test_store import add_test_image

TAG = "docker.io/library/busybox:latest"


@pytest.fixture
def store(tmp_path) -> ImageStore:
    return ImageStore(Paths(root=str(tmp_path / "a"), run=str(tmp_path / "run")))


@pytest.fixture
def other(tmp_path) -> ImageStore:
    return ImageStore(Paths(root=str(tmp_path / "b"), run=str(tmp_path / "run")))


def tar_of(files: Dict[str, bytes], symlinks: Dict[str, str] = {}) -> bytes:  # noqa: B006 - read only
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in symlinks.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


def members(data: bytes) -> Dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]


def test_save_writes_docker_archive_and_oci_layout(store: ImageStore) -> None:
    record = add_test_image(store, [b"a", b"b"], tag=TAG)
    out = io.BytesIO()
    save_images(store, [(record, [TAG])], out)
    files = members(out.getvalue())
    manifest = json.loads(files["manifest.json"])
    assert manifest == [{"Config": f"blobs/sha256/{record.image_id[7:]}", "RepoTags": ["busybox:latest"],
                         "Layers": [f"blobs/sha256/{layer.digest[7:]}" for layer in record.layers]}]
    index = json.loads(files["index.json"])
    assert index["manifests"][0]["digest"] == record.manifest_digest
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == TAG
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    assert json.loads(files["repositories"]) == {"busybox": {"latest": record.layers[-1].diff_id[7:]}}
    for name, data in files.items():
        if name.startswith("blobs/"):
            assert sha256(data) == "sha256:" + name.split("/")[-1]


@pytest.mark.parametrize("compress", [lambda b: b, gzip.compress])
def test_save_then_load_keeps_identity(store: ImageStore, other: ImageStore, compress) -> None:
    record = add_test_image(store, [b"a", b"b"], tag=TAG)
    untagged = add_test_image(store, [b"c"])
    out = io.BytesIO()
    save_images(store, [(record, [TAG, "example.com/x/y:1"]), (untagged, [])], out)
    loaded = load_archive(other, io.BytesIO(compress(out.getvalue())))
    assert [image.record.image_id for image in loaded] == [record.image_id, untagged.image_id]
    assert sorted(loaded[0].tags) == sorted([TAG, "example.com/x/y:1"])
    copy = other.get(TAG)
    assert copy.manifest_digest == record.manifest_digest and copy.layers == record.layers
    assert other.get(untagged.image_id).repo_tags == []
    assert layers.ensure_unpacked(other, copy)


def test_load_legacy_docker_archive(other: ImageStore) -> None:
    layer_tar = LayerTar().file("hello", b"hi").bytes()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha256(layer_tar)] * 2}}).encode()
    config_name = sha256(config)[7:] + ".json"
    archive = tar_of(
        {config_name: config, "aaa/layer.tar": layer_tar, "aaa/json": b"{}", "aaa/VERSION": b"1.0",
         "manifest.json": json.dumps([{"Config": config_name, "RepoTags": ["app:1"],
                                       "Layers": ["aaa/layer.tar", "bbb/layer.tar"]}]).encode(),
         "repositories": b"{}"},
        symlinks={"bbb/layer.tar": "../aaa/layer.tar"},
    )
    [image] = load_archive(other, io.BytesIO(archive))
    assert image.tags == ["docker.io/library/app:1"]
    record = other.get("docker.io/library/app:1")
    assert [layer.digest for layer in record.layers] == [sha256(layer_tar)] * 2
    assert record.layers[0].media_type == types.MT_OCI_LAYER
    manifest = json.loads(other.read_blob(record.manifest_digest))
    assert manifest["config"]["digest"] == record.image_id


def test_load_podman_docker_archive(other: ImageStore) -> None:
    """podman save and docker < 25: <diffid>.tar at the top, <v1 id>/layer.tar links to it."""
    layer_tar = LayerTar().file("hello", b"hi").bytes()
    layer_name = sha256(layer_tar)[7:] + ".tar"
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha256(layer_tar)]}}).encode()
    config_name = sha256(config)[7:] + ".json"
    archive = tar_of({layer_name: layer_tar, config_name: config, "v1id/VERSION": b"1.0", "v1id/json": b"{}",
                      "manifest.json": json.dumps([{"Config": config_name, "RepoTags": ["localhost/x:2"],
                                                    "Layers": ["v1id/layer.tar"]}]).encode()},
                     symlinks={"v1id/layer.tar": "../" + layer_name})
    [image] = load_archive(other, io.BytesIO(archive))
    assert image.tags == ["localhost/x:2"]
    assert other.get("localhost/x:2").layers[0].digest == sha256(layer_tar)


def test_load_plain_oci_layout(store: ImageStore, other: ImageStore) -> None:
    record = add_test_image(store, [b"a"])
    blobs = {f"blobs/sha256/{d[7:]}": store.read_blob(d)
             for d in [record.image_id, record.manifest_digest] + [layer.digest for layer in record.layers]}
    index = {"schemaVersion": 2, "manifests": [
        {"mediaType": types.MT_OCI_MANIFEST, "digest": record.manifest_digest, "size": 1,
         "annotations": {"org.opencontainers.image.ref.name": "127.0.0.1:5000/app:v2"}}]}
    archive = tar_of({**blobs, "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
                      "index.json": json.dumps(index).encode()})
    [image] = load_archive(other, io.BytesIO(archive))
    assert image.tags == ["127.0.0.1:5000/app:v2"]
    assert other.get("127.0.0.1:5000/app:v2").manifest_digest == record.manifest_digest


def test_load_refuses_a_blob_that_does_not_match_its_name(other: ImageStore) -> None:
    archive = tar_of({"blobs/sha256/" + "0" * 64: b"not that", "index.json": b'{"manifests": []}'})
    with pytest.raises(InvalidArgument, match="digest mismatch"):
        load_archive(other, io.BytesIO(archive))
    assert not other.has_blob("sha256:" + "0" * 64)


@pytest.mark.parametrize("archive,message", [
    (b"garbage" * 100, "corrupt"),
    (tar_of({"hello": b"x"}), "neither manifest.json nor index.json"),
    (tar_of({"manifest.json": b'[{"Config": "missing.json", "Layers": []}]'}), "not in the archive"),
])
def test_load_refuses_bad_archives(other: ImageStore, archive: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        load_archive(other, io.BytesIO(archive))


@pytest.mark.parametrize("manifest,message", [
    (b'[{"Layers": []}]', r"manifest.json\[0\].Config: expected a file name"),
    (b'[{"Config": 5}]', r"manifest.json\[0\].Config: expected a file name"),
    (b'["x.json"]', r"manifest.json\[0\]: expected an object"),
    (b'[{"Config": "c.json", "Layers": "l.tar"}]', r"manifest.json\[0\].Layers: expected an array of strings"),
    (b'[{"Config": "c.json", "RepoTags": [1]}]', r"manifest.json\[0\].RepoTags: expected an array of strings"),
])
def test_load_refuses_manifest_entries_with_missing_or_mistyped_keys(other: ImageStore, manifest: bytes,
                                                                     message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        load_archive(other, io.BytesIO(tar_of({"c.json": b"{}", "manifest.json": manifest})))


def test_import_rootfs_makes_a_one_layer_image(store: ImageStore) -> None:
    raw = LayerTar().dir("bin").file("bin/sh", b"#!", mode=0o755).bytes()
    record = import_rootfs(store, io.BytesIO(gzip.compress(raw)), repo_tag="docker.io/library/imp:1",
                           changes=['CMD ["/bin/sh"]', "ENV A=1"], message="hello",
                           platform=Platform(os="linux", architecture="arm64", variant="v8"))
    assert store.get("docker.io/library/imp:1").image_id == record.image_id
    assert record.config.diff_ids == [sha256(raw)] and record.layers[0].media_type == types.MT_OCI_LAYER_GZIP
    assert record.config.config.cmd == ["/bin/sh"] and record.config.config.env == ["A=1"]
    assert record.config.architecture == "arm64" and record.config.history[0].comment == "hello"
    assert layers.ensure_unpacked(store, record)


def test_import_plain_tar_uses_its_digest_as_diff_id(store: ImageStore) -> None:
    raw = LayerTar().file("x", b"y").bytes()
    record = import_rootfs(store, io.BytesIO(raw))
    assert record.layers[0].digest == record.layers[0].diff_id == sha256(raw)
    assert record.repo_tags == []


def test_apply_changes() -> None:
    base = ContainerConfig(env=["A=0", "PATH=/bin"])
    config = apply_changes(base, [
        "CMD echo hi", 'ENTRYPOINT ["/init"]', "ENV A=1 B='two words'", "ENV C legacy form",
        "EXPOSE 80 53/udp", "LABEL a=b", "USER 1000:1000", "WORKDIR /app", 'VOLUME ["/data"]',
        "STOPSIGNAL SIGINT", "onbuild RUN true",
    ])
    assert config.cmd == ["/bin/sh", "-c", "echo hi"] and config.entrypoint == ["/init"]
    assert config.env == ["PATH=/bin", "A=1", "B=two words", "C=legacy form"]
    assert config.exposed_ports == {"80/tcp": {}, "53/udp": {}} and config.labels == {"a": "b"}
    assert (config.user, config.working_dir, config.stop_signal) == ("1000:1000", "/app", "SIGINT")
    assert config.volumes == {"/data": {}} and config.on_build == ["RUN true"]


@pytest.mark.parametrize("change,message", [
    ("RUN true", "unsupported instruction"), ("CMD [1, 2]", "JSON array"), ("LABEL =x", "KEY=VALUE"),
])
def test_apply_changes_refuses(change: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        apply_changes(ContainerConfig(), [change])
