"""Pushing an image: blobs first (skipping or mounting what the registry has), then the manifest.

Messages follow moby distribution/push_v2.go: "The push refers to repository",
"Preparing", "Layer already exists", "Mounted from", "Pushing", "Pushed",
"<tag>: digest: <d> size: <n>" and the final aux {Tag, Digest, Size}.
"""
from __future__ import annotations

import functools
import logging
import threading
from typing import Callable, Dict, Iterator, Optional, Sequence

from rootless.engine import progress as prog
from rootless.images.reference import Reference, parse_reference
from rootless.images.store import ImageRecord, ImageStore
from rootless.images.types import Descriptor, Manifest, parse_manifest_bytes
from rootless.registry.client import RegistryClient

logger = logging.getLogger(__name__)

# Uploads in flight at once (docker's max-concurrent-uploads is 5).
MAX_CONCURRENT_UPLOADS = 3


def mount_sources(store: ImageStore, registry: str, target_repository: str) -> Dict[str, str]:
    """blob digest -> another repository of registry known to hold it (for cross-repo mounts)."""
    sources: Dict[str, str] = {}
    for record in store.list():
        repos = {_repository_on(name, registry) for name in record.repo_tags + record.repo_digests}
        repos.discard(None)
        repos.discard(target_repository)
        if not repos:
            continue
        repo = sorted(r for r in repos if r)[0]
        for digest in [record.image_id] + [layer.digest for layer in record.layers]:
            sources.setdefault(digest, repo)
    return sources


def _repository_on(name: str, registry: str) -> Optional[str]:
    ref = parse_reference(name)
    return ref.repository if ref.registry == registry else None


class PushJob:
    """Push one image under one or more tags of a repository."""

    def __init__(self, store: ImageStore, client: RegistryClient, record: ImageRecord,
                 refs: Sequence[Reference], on_pushed: Optional[Callable[[Reference, str], None]] = None) -> None:
        self.store, self.client, self.record, self.refs = store, client, record, list(refs)
        self.on_pushed = on_pushed
        self.manifest_bytes = store.read_blob(record.manifest_digest)
        manifest = parse_manifest_bytes(self.manifest_bytes, record.manifest_media_type)
        assert isinstance(manifest, Manifest)
        self.manifest = manifest

    def events(self) -> Iterator[prog.Event]:
        try:
            yield prog.status(f"The push refers to repository [{self.refs[0].familiar_name}]")
            for ref in self.refs:
                yield from self._push_one(ref)
        finally:
            self.client.close()

    def _push_one(self, ref: Reference) -> Iterator[prog.Event]:
        # docker lists layers top first.
        layers = list(reversed(self.manifest.layers))
        for layer in layers:
            yield prog.status("Preparing", prog.short_id(layer.digest), True)
        sources = mount_sources(self.store, ref.registry, ref.repository)
        blobs = layers + [self.manifest.config]
        tasks = [functools.partial(self._push_blob, ref, desc, sources.get(desc.digest)) for desc in blobs]
        for event in prog.run_parallel(tasks, MAX_CONCURRENT_UPLOADS, "push"):
            if event.get("id") != prog.short_id(self.manifest.config.digest):
                yield event  # docker does not report the config blob
        digest = self.client.put_manifest(ref, self.manifest_bytes, self.record.manifest_media_type)
        tag = ref.tag or digest
        size = len(self.manifest_bytes)
        yield prog.status(f"{tag}: digest: {digest} size: {size}")
        yield {"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": size}}
        if self.on_pushed is not None:
            self.on_pushed(ref, digest)

    def _push_blob(self, ref: Reference, desc: Descriptor, source: Optional[str],
                   emit: prog.Emit, cancelled: threading.Event) -> None:
        layer_id = prog.short_id(desc.digest)
        if self.client.blob_exists(ref, desc.digest):
            emit(prog.status("Layer already exists", layer_id, True))
            return
        counter = prog.ByteCounter(emit, "Pushing", layer_id, desc.size, cancelled)
        mounted = self.client.upload_blob(ref, desc, lambda: self.store.open_blob(desc.digest),
                                          mount_from=source, progress=counter)
        emit(prog.status(f"Mounted from {source}" if mounted else "Pushed", layer_id, True))
