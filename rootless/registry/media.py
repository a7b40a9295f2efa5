"""Which media types a pull accepts: manifests, indexes, configs and layers.

A registry is not trusted to describe its content honestly. Everything a pull
reads must be a kind rootless knows how to use; anything else is refused with
its media type named, instead of being guessed from its shape (a "schema2-shaped"
document of an unknown type is not a schema2 manifest).
"""
from __future__ import annotations

import json
from typing import Any, Optional, Sequence

from rootless.errors import InvalidArgument
from rootless.images.types import CONFIG_TYPES, INDEX_TYPES, LAYER_TYPES, MANIFEST_TYPES, Manifest

# The four kinds a registry client asks for and reads.
KNOWN_MANIFEST_TYPES = MANIFEST_TYPES + INDEX_TYPES
# Content-Types that say nothing about the document: the body's mediaType decides
# (distribution's UnmarshalManifest does the same for "", text/plain, application/json).
_UNSPECIFIC = ("", "application/json", "text/plain", "application/octet-stream")
_MANIFEST_HINT = "rootless pulls Docker schema2 and OCI images: " + ", ".join(KNOWN_MANIFEST_TYPES)


def _parsed(data: bytes) -> Optional[Any]:
    """The document as JSON, or None when it is not a JSON object (its parser says why)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def manifest_media_type(data: bytes, served: str, what: str) -> str:
    """The kind of a fetched manifest, from its mediaType, else the response's Content-Type.

    OCI manifests may omit mediaType; then the Content-Type the registry served
    must itself be a known kind. When both are given they must agree, as moby's
    distribution unmarshallers require. served is the Content-Type without parameters.
    """
    doc = _parsed(data)
    if doc is None:
        return served  # not a manifest of any kind: images.types.parse_manifest_bytes refuses it
    declared = doc.get("mediaType")
    if declared is not None:
        if not isinstance(declared, str) or declared not in KNOWN_MANIFEST_TYPES:
            raise InvalidArgument(f"{what}: unsupported manifest media type {declared!r}", hint=_MANIFEST_HINT)
        if served not in _UNSPECIFIC and served != declared:
            raise InvalidArgument(f"{what}: the registry served Content-Type {served!r} "
                                  f"for a manifest of media type {declared!r}")
        return declared
    if served in KNOWN_MANIFEST_TYPES:
        return served
    shown = repr(served) if served else "(none)"
    raise InvalidArgument(f"{what}: unsupported manifest media type {shown}: the manifest has no "
                          "mediaType and the registry's Content-Type is not a manifest type",
                          hint=_MANIFEST_HINT)


def check_image_media_types(manifest: Manifest, what: str) -> None:
    """Refuse a config or layer that is not a container image's (an artifact, an unknown compression)."""
    config_type = manifest.config.media_type
    if config_type not in CONFIG_TYPES:
        raise InvalidArgument(f"{what}: unsupported config media type {config_type!r}: not a container image",
                              hint="rootless pulls images whose config is one of: " + ", ".join(CONFIG_TYPES))
    _check_layers([layer.media_type for layer in manifest.layers], what)


def _check_layers(media_types: Sequence[str], what: str) -> None:
    for position, media_type in enumerate(media_types):
        if media_type not in LAYER_TYPES:
            raise InvalidArgument(f"{what}: layers[{position}]: unsupported layer media type {media_type!r}",
                                  hint="rootless unpacks tar layers, plain or compressed with gzip or zstd: "
                                       + ", ".join(LAYER_TYPES))
