"""Making new images from layers: `docker commit`, `docker import`, build steps.

write_layer() stores an uncompressed layer tar as a gzip blob, computing the
DiffID (sha256 of the tar) and the blob digest in one pass. new_image() writes
the config and an OCI manifest for a base image plus new layers and records it.
Callers hold store.lease() from the first blob to new_image(), so garbage
collection cannot take the blobs in between.
"""
from __future__ import annotations

import hashlib
import zlib
from dataclasses import replace
from typing import IO, List, Optional, Sequence

from rootless.images import types
from rootless.images.store import ImageRecord, ImageStore, LayerRecord
from rootless.wire.times import MICRO, now_rfc3339
from rootless.images.types import ContainerConfig, History, ImageConfig, Manifest, Platform, RootFS

BUFSIZE = 1 << 20
# Level 1: a commit is interactive; the registry does not care about a few percent of size.
GZIP_LEVEL = 1


def write_layer(store: ImageStore, tar_stream: IO[bytes], compress: bool = True) -> LayerRecord:
    """Store an uncompressed layer tar (gzip-compressed unless compress=False)."""
    diff_hasher = hashlib.sha256()
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) if compress else None  # 31: gzip header
    with store.ingest() as writer:
        for chunk in iter(lambda: tar_stream.read(BUFSIZE), b""):
            diff_hasher.update(chunk)
            writer.write(compressor.compress(chunk) if compressor else chunk)
        if compressor:
            writer.write(compressor.flush())
        digest = writer.commit()
    media_type = types.MT_OCI_LAYER_GZIP if compress else types.MT_OCI_LAYER
    return LayerRecord(digest, media_type, store.blob_size(digest), "sha256:" + diff_hasher.hexdigest())


def put_manifest(store: ImageStore, config_digest: str, layers: Sequence[LayerRecord]) -> str:
    """Store an OCI manifest for a config and its layers; returns its digest."""
    manifest = Manifest(
        schema_version=2, media_type=types.MT_OCI_MANIFEST,
        config=types.Descriptor(media_type=types.MT_OCI_CONFIG, digest=config_digest,
                                size=store.blob_size(config_digest)),
        layers=[types.Descriptor(media_type=r.media_type, digest=r.digest, size=r.size) for r in layers],
    )
    return store.put_blob(manifest.to_bytes())


def new_image(
    store: ImageStore,
    base: Optional[ImageRecord],
    layers: Sequence[LayerRecord],
    container_config: ContainerConfig,
    history: Sequence[History] = (),
    repo_tag: Optional[str] = None,
    author: Optional[str] = None,
    platform: Optional[Platform] = None,
) -> ImageRecord:
    """Record base (or scratch) + layers as a new image with this run config.

    history holds one entry per step; entries without a layer must say
    empty_layer=True (image-spec config.md, "history").
    """
    all_layers: List[LayerRecord] = (list(base.layers) if base else []) + list(layers)
    config = _image_config(base, all_layers, container_config, history, author, platform)
    config_digest = store.put_blob(config.to_bytes())
    manifest_digest = put_manifest(store, config_digest, all_layers)
    return store.add_image(manifest_digest, types.MT_OCI_MANIFEST, config_digest, all_layers, repo_tag=repo_tag)


def _image_config(base: Optional[ImageRecord], layers: Sequence[LayerRecord], container_config: ContainerConfig,
                  history: Sequence[History], author: Optional[str], platform: Optional[Platform]) -> ImageConfig:
    now = now_rfc3339(MICRO)
    stamped = [entry if entry.created else replace(entry, created=now) for entry in history]
    rootfs = RootFS(type="layers", diff_ids=[layer.diff_id for layer in layers])
    if base is not None:
        # Keep the base's unknown fields (os.features, container_config, ...), replace what changed.
        return replace(base.config, created=now, author=author or base.config.author, config=container_config,
                       rootfs=rootfs, history=list(base.config.history or []) + stamped)
    platform = platform or types.host_platform()
    return ImageConfig(architecture=platform.architecture, os=platform.os, variant=platform.variant,
                       created=now, author=author, config=container_config, rootfs=rootfs, history=stamped)
