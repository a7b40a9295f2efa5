from __future__ import annotations

import hashlib
import json

import pytest

from rootless.errors import InvalidArgument, NotFound
from rootless.images import types
from rootless.images.types import (
    ImageConfig, Index, Manifest, Platform, chain_ids, manifest_media_type, parse_manifest_bytes,
    select_platform,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def manifest_doc(**extra: object) -> dict:
    return {"schemaVersion": 2,
            "config": {"mediaType": types.MT_OCI_CONFIG, "digest": D1, "size": 10},
            "layers": [{"mediaType": types.MT_OCI_LAYER_GZIP, "digest": D2, "size": 20, "x-extra": 1}],
            **extra}


def index_doc(*platforms: dict) -> dict:
    return {"schemaVersion": 2, "manifests": [
        {"mediaType": types.MT_OCI_MANIFEST, "digest": "sha256:" + str(i) * 64, "size": 1, "platform": p}
        for i, p in enumerate(platforms)]}


def test_manifest_round_trip_keeps_unknown_fields() -> None:
    doc = manifest_doc(annotations={"a": "b"}, unknownTop=[1, 2])
    manifest = Manifest.from_json(doc)
    assert manifest.config.digest == D1 and manifest.layers[0].size == 20
    assert manifest.layers[0].extra == {"x-extra": 1}
    assert manifest.to_json() == doc


def test_config_round_trip_and_fields() -> None:
    doc = {"architecture": "arm64", "os": "linux", "variant": "v8", "created": "2024-01-01T00:00:00Z",
           "config": {"Env": ["A=1"], "Cmd": ["sh"], "WorkingDir": "/w", "User": "1000",
                      "ExposedPorts": {"80/tcp": {}}, "Healthcheck": {"Test": ["NONE"]}, "Custom": 1},
           "rootfs": {"type": "layers", "diff_ids": [D1, D2]},
           "history": [{"created_by": "x", "empty_layer": True}], "container_config": {"Hostname": "h"}}
    config = ImageConfig.from_json(doc)
    assert config.config.cmd == ["sh"] and config.config.working_dir == "/w"
    assert config.config.extra == {"Custom": 1}
    assert config.diff_ids == [D1, D2] and config.history[0].empty_layer is True
    assert str(config.platform) == "linux/arm64/v8"
    assert config.to_json() == doc


def test_config_without_config_section() -> None:
    config = ImageConfig.from_json({"architecture": "amd64", "os": "linux", "rootfs": {"diff_ids": []}})
    assert config.config.cmd is None and config.diff_ids == []


def test_from_json_refuses_non_objects() -> None:
    with pytest.raises(InvalidArgument):
        Manifest.from_json([1])
    with pytest.raises(InvalidArgument):
        Manifest.from_json({"layers": "nope"})


@pytest.mark.parametrize("doc,content_type,kind", [
    (manifest_doc(), types.MT_OCI_MANIFEST, Manifest),
    (manifest_doc(), "", Manifest),
    (manifest_doc(mediaType=types.MT_DOCKER_MANIFEST), "", Manifest),
    (index_doc(), types.MT_OCI_INDEX + "; charset=utf-8", Index),
    (index_doc(), None, Index),
    ({"schemaVersion": 2, "mediaType": types.MT_DOCKER_MANIFEST_LIST, "manifests": []}, "", Index),
])
def test_parse_manifest_bytes_dispatch(doc: dict, content_type: str, kind: type) -> None:
    parsed = parse_manifest_bytes(json.dumps(doc).encode(), content_type)
    assert isinstance(parsed, kind)


def test_parse_manifest_bytes_takes_media_type_from_content_type() -> None:
    parsed = parse_manifest_bytes(json.dumps(manifest_doc()).encode(), types.MT_DOCKER_MANIFEST)
    assert manifest_media_type(parsed, types.MT_DOCKER_MANIFEST) == types.MT_DOCKER_MANIFEST
    assert manifest_media_type(parsed) == types.MT_OCI_MANIFEST


@pytest.mark.parametrize("data,content_type,message", [
    (b'{"schemaVersion": 1, "fsLayers": []}', "", "schema 1"),
    (b"{}", types.MT_DOCKER_SCHEMA1_SIGNED, "schema 1"),
    (b"not json", "", "invalid JSON"),
    (b"[]", "", "not a JSON object"),
    (b'{"schemaVersion": 2}', "text/plain", "unknown media type"),
])
def test_parse_manifest_bytes_refuses(data: bytes, content_type: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_manifest_bytes(data, content_type)


@pytest.mark.parametrize("doc,message", [
    (manifest_doc(config={"digest": "sha256:abc", "size": 1}), "config: invalid digest 'sha256:abc'"),
    ({"schemaVersion": 2, "mediaType": types.MT_DOCKER_MANIFEST}, "config: invalid digest ''"),
    (manifest_doc(layers=[{"digest": D2, "size": "big"}]), "layers[0]: invalid size 'big'"),
    (manifest_doc(layers=[{"digest": D2, "size": -1}]), "layers[0]: invalid size -1"),
    (manifest_doc(layers=[[]]), "invalid Descriptor: expected a JSON object"),
    ({"schemaVersion": 2, "mediaType": types.MT_OCI_INDEX, "manifests": [{"digest": 5}]},
     "manifests[0]: invalid digest 5"),
])
def test_parse_manifest_bytes_names_the_bad_descriptor(doc: dict, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_manifest_bytes(json.dumps(doc).encode(), "", "reg/app:1")
    assert caught.value.message.startswith("can't parse manifest: reg/app:1: ")
    assert message in caught.value.message


def test_parse_manifest_bytes_names_the_reference() -> None:
    with pytest.raises(InvalidArgument, match=r"^can't parse manifest: reg/app:1: invalid JSON"):
        parse_manifest_bytes(b"{", "", "reg/app:1")
    with pytest.raises(InvalidArgument, match=r"^can't use manifest: reg/app:1: Docker schema 1"):
        parse_manifest_bytes(b"{}", types.MT_DOCKER_SCHEMA1_SIGNED, "reg/app:1")


def test_select_platform_matches_os_arch_and_variant() -> None:
    index = Index.from_json(index_doc(
        {"os": "unknown", "architecture": "unknown"},
        {"os": "linux", "architecture": "arm", "variant": "v6"},
        {"os": "linux", "architecture": "arm", "variant": "v7"},
        {"os": "linux", "architecture": "amd64"},
        {"os": "linux", "architecture": "arm64"},
    ))
    assert select_platform(index, "linux", "amd64").digest == "sha256:" + "3" * 64
    assert select_platform(index, "linux", "x86_64").digest == "sha256:" + "3" * 64
    assert select_platform(index, "linux", "arm", "v6").digest == "sha256:" + "1" * 64
    assert select_platform(index, "linux", "arm").digest == "sha256:" + "2" * 64
    assert select_platform(index, "linux", "arm64", "v8").digest == "sha256:" + "4" * 64
    with pytest.raises(NotFound, match="linux/s390x"):
        select_platform(index, "linux", "s390x")


def test_chain_ids_follow_the_image_spec() -> None:
    expected_second = "sha256:" + hashlib.sha256(f"{D1} {D2}".encode()).hexdigest()
    assert chain_ids([]) == []
    assert chain_ids([D1]) == [D1]
    assert chain_ids([D1, D2]) == [D1, expected_second]


def test_platform_string() -> None:
    assert str(Platform(os="linux", architecture="amd64")) == "linux/amd64"
