"""GET /distribution/{name}/json bodies, built from what the registry served (moby's fetchManifest)."""
from __future__ import annotations

import json
from typing import Any, Dict, Optional

import pytest

from rootless.engine.image_pull import distribution_json, platform_json
from rootless.images.types import parse_manifest_bytes
from rootless.registry.client import FetchedManifest

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DIGEST = "sha256:" + "a" * 64


def served(doc: Dict[str, Any], media_type: str) -> FetchedManifest:
    return FetchedManifest(json.dumps(doc).encode(), media_type, DIGEST)


def manifest_body(config: Optional[bytes]) -> Dict[str, Any]:
    fetched = served({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "layers": [],
                      "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                 "digest": "sha256:" + "b" * 64, "size": 10}}, DOCKER_MANIFEST)
    return distribution_json(fetched, parse_manifest_bytes(fetched.data, fetched.media_type), config)


def test_an_index_lists_each_entry_platform_and_its_own_descriptor() -> None:
    entry = {"mediaType": DOCKER_MANIFEST, "size": 1, "digest": "sha256:" + "c" * 64}
    fetched = served({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {**entry, "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
        {**entry, "platform": {"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.1"}},
        entry]}, OCI_INDEX)
    body = distribution_json(fetched, parse_manifest_bytes(fetched.data, OCI_INDEX), None)
    assert body == {
        "Descriptor": {"mediaType": OCI_INDEX, "digest": DIGEST, "size": len(fetched.data)},
        "Platforms": [{"architecture": "arm", "os": "linux", "variant": "v7"},
                      {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1"},
                      {"architecture": "", "os": ""}]}


def test_a_manifest_takes_its_platform_from_the_config_blob() -> None:
    config = json.dumps({"architecture": "arm64", "os": "linux", "variant": "v8", "rootfs": {}}).encode()
    body = manifest_body(config)
    assert body["Descriptor"]["mediaType"] == DOCKER_MANIFEST
    assert body["Platforms"] == [{"architecture": "arm64", "os": "linux", "variant": "v8"}]


@pytest.mark.parametrize("config", [None, b"not json", b"[]", b'{"rootfs": {}}', b'{"os": 1, "architecture": "x"}'])
def test_a_config_without_a_readable_platform_gives_none(config: Optional[bytes]) -> None:
    # dockerd: Platforms stays a nil slice (JSON null) when the config can't be read or names nothing.
    assert manifest_body(config)["Platforms"] is None


def test_platform_json_keeps_only_ocispec_platform_fields() -> None:
    assert platform_json({"os": "linux", "architecture": "amd64", "os.features": ["x"], "created": "now"}) == \
        {"architecture": "amd64", "os": "linux", "os.features": ["x"]}
    assert platform_json({"os": "linux", "os.features": "x"}) is None
