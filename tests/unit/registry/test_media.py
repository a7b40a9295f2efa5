"""Which manifests, configs and layers a pull accepts (rootless/registry/media.py), directly
and through RegistryClient.get_manifest against the fake registry."""
from __future__ import annotations

import json
import re
from typing import Any, Dict, Iterator, List

import pytest

from rootless.errors import InvalidArgument
from rootless.images.reference import parse_reference
from rootless.images.types import (
    MT_DOCKER_CONFIG, MT_DOCKER_LAYER, MT_DOCKER_LAYER_FOREIGN, MT_DOCKER_MANIFEST, MT_OCI_INDEX, MT_OCI_LAYER_ND_GZIP,
    MT_OCI_MANIFEST, Manifest,
)
from rootless.registry.client import RegistryClient
from rootless.registry.media import check_image_media_types, manifest_media_type
from tests.fakes.registry import FakeRegistry

HOSTILE = "application/vnd.hostile.unknown.manifest.v9+json"
DIGEST = "sha256:" + "ab" * 32


def schema2(media_type: Any = MT_DOCKER_MANIFEST, layers: List[str] = [MT_DOCKER_LAYER],
            config: str = MT_DOCKER_CONFIG) -> Dict[str, Any]:
    doc: Dict[str, Any] = {
        "schemaVersion": 2, "mediaType": media_type,
        "config": {"mediaType": config, "digest": DIGEST, "size": 2},
        "layers": [{"mediaType": t, "digest": DIGEST, "size": 3} for t in layers],
    }
    if media_type is None:
        del doc["mediaType"]
    return doc


def raw(doc: Dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


@pytest.mark.parametrize("declared,served,kind", [
    (MT_DOCKER_MANIFEST, MT_DOCKER_MANIFEST, MT_DOCKER_MANIFEST),
    (MT_DOCKER_MANIFEST, "application/json", MT_DOCKER_MANIFEST),  # a vague Content-Type: the body decides
    (MT_DOCKER_MANIFEST, "", MT_DOCKER_MANIFEST),
    (None, MT_OCI_MANIFEST, MT_OCI_MANIFEST),  # OCI without mediaType: the Content-Type decides
    (None, MT_OCI_INDEX, MT_OCI_INDEX),
])
def test_known_kinds_are_accepted(declared: Any, served: str, kind: str) -> None:
    assert manifest_media_type(raw(schema2(declared)), served, "get manifest: r") == kind


@pytest.mark.parametrize("declared,served,reason", [
    (HOSTILE, HOSTILE, f"unsupported manifest media type '{HOSTILE}'"),
    (HOSTILE, MT_DOCKER_MANIFEST, f"unsupported manifest media type '{HOSTILE}'"),
    (None, HOSTILE, f"unsupported manifest media type '{HOSTILE}': the manifest has no mediaType"),
    (None, "", "unsupported manifest media type (none)"),
    (None, "application/json", "unsupported manifest media type 'application/json'"),
    (42, MT_DOCKER_MANIFEST, "unsupported manifest media type 42"),
    (MT_DOCKER_MANIFEST, HOSTILE, f"the registry served Content-Type '{HOSTILE}' for a manifest of media type"),
    (MT_DOCKER_MANIFEST, MT_OCI_MANIFEST, "the registry served Content-Type"),  # moby refuses the mix too
])
def test_unknown_or_contradictory_kinds_are_refused(declared: Any, served: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        manifest_media_type(raw(schema2(declared)), served, "get manifest: r")
    assert caught.value.message.startswith(f"get manifest: r: {reason}")


def test_refusal_hint_lists_what_is_pulled() -> None:
    with pytest.raises(InvalidArgument) as caught:
        manifest_media_type(raw(schema2(HOSTILE)), HOSTILE, "get manifest: r")
    assert MT_OCI_MANIFEST in (caught.value.hint or "") and MT_DOCKER_MANIFEST in (caught.value.hint or "")


def test_not_json_is_left_to_the_parser() -> None:
    """parse_manifest_bytes says "can't parse manifest: REF: invalid JSON" (test_bad_input)."""
    assert manifest_media_type(b"<html>", MT_OCI_MANIFEST, "get manifest: r") == MT_OCI_MANIFEST


def test_layer_kinds() -> None:
    foreign = Manifest.from_json(schema2(layers=[MT_DOCKER_LAYER, MT_DOCKER_LAYER_FOREIGN, MT_OCI_LAYER_ND_GZIP]))
    check_image_media_types(foreign, "pull r")  # foreign and non-distributable layers are pulled as before
    bzip = Manifest.from_json(schema2(layers=[MT_DOCKER_LAYER, "application/vnd.oci.image.layer.v1.tar+bzip2"]))
    with pytest.raises(InvalidArgument, match=r"^pull r: layers\[1\]: unsupported layer media type "
                                              r"'application/vnd.oci.image.layer.v1.tar\+bzip2'$"):
        check_image_media_types(bzip, "pull r")
    with pytest.raises(InvalidArgument, match=r"layers\[0\]: unsupported layer media type ''"):
        check_image_media_types(Manifest.from_json(schema2(layers=[""])), "pull r")


def test_artifact_config_is_refused() -> None:
    helm = Manifest.from_json(schema2(config="application/vnd.cncf.helm.config.v1+json"))
    with pytest.raises(InvalidArgument, match="unsupported config media type 'application/vnd.cncf.helm.config"):
        check_image_media_types(helm, "pull r")


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as server:
        yield server


def test_get_manifest_refuses_a_hostile_media_type(fake: FakeRegistry) -> None:
    fake.add_manifest("evil", "1", raw(schema2(HOSTILE)), HOSTILE)
    with pytest.raises(InvalidArgument) as caught:
        RegistryClient().get_manifest(parse_reference(f"{fake.host}/evil:1"))
    assert caught.value.message == f"get manifest: {fake.host}/evil:1: unsupported manifest media type '{HOSTILE}'"


def test_get_manifest_dispatches_on_content_type_without_media_type(fake: FakeRegistry) -> None:
    fake.add_manifest("oci", "1", raw(schema2(None)), MT_OCI_MANIFEST)
    fake.add_manifest("oci", "2", raw(schema2(None)), HOSTILE)
    fake.add_manifest("oci", "3", raw(schema2(None)), "")  # no Content-Type header at all
    client = RegistryClient()
    assert client.get_manifest(parse_reference(f"{fake.host}/oci:1")).media_type == MT_OCI_MANIFEST
    with pytest.raises(InvalidArgument, match=re.escape(f"unsupported manifest media type '{HOSTILE}'")):
        client.get_manifest(parse_reference(f"{fake.host}/oci:2"))
    with pytest.raises(InvalidArgument, match=r"unsupported manifest media type \(none\)"):
        client.get_manifest(parse_reference(f"{fake.host}/oci:3"))
