"""Pulling an image: resolve, download in parallel into the store, unpack, record.

The shape is containerd's fetch-then-unpack (core/remotes/docker + the content
Ingester) with docker's progress messages (moby distribution/pull_v2.go):
"Pulling from", "Pulling fs layer", "Downloading", "Verifying Checksum",
"Download complete", "Extracting", "Pull complete", "Digest", "Status".
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Sequence, Set, Tuple

from rootless.engine import progress as prog
from rootless.errors import InvalidArgument
from rootless.images import layers
from rootless.images.reference import Reference
from rootless.images.store import BlobWriter, ImageRecord, ImageStore, LayerRecord
from rootless.images.types import (
    Descriptor, Index, Manifest, Platform, host_platform, manifest_media_type, parse_manifest_bytes,
    select_platform,
)
from rootless.registry.client import RegistryClient

logger = logging.getLogger(__name__)

# Downloads in flight at once (docker's max-concurrent-downloads is 3).
MAX_CONCURRENT_DOWNLOADS = 3


def parse_platform(text: Optional[str]) -> Platform:
    """"linux/arm64/v8" -> Platform; empty means this host's platform."""
    if not text:
        return host_platform()
    parts = text.strip().lower().split("/")
    if len(parts) < 2 or len(parts) > 3 or not all(parts):
        raise InvalidArgument(f"invalid platform: {text!r}", hint="use os/arch[/variant], e.g. linux/amd64")
    return Platform(os=parts[0], architecture=parts[1], variant=parts[2] if len(parts) == 3 else None)


@dataclass(frozen=True)
class Resolved:
    """What a reference points at: the top digest and the platform's manifest."""

    ref: Reference
    top_digest: str  # the tag's digest (an index's, for multi-platform images)
    manifest: Manifest
    manifest_bytes: bytes
    manifest_digest: str
    media_type: str


def resolve(client: RegistryClient, ref: Reference, platform: Platform) -> Resolved:
    """Fetch ref's manifest, through its index for platform when it has one."""
    fetched = client.get_manifest(ref)
    doc = parse_manifest_bytes(fetched.data, fetched.media_type, str(ref))
    data, media_type, digest = fetched.data, fetched.media_type, fetched.digest
    if isinstance(doc, Index):
        chosen = select_platform(doc, platform.os, platform.architecture, platform.variant)
        inner_ref = ref.with_digest(chosen.digest)
        inner = client.get_manifest(inner_ref)
        doc = parse_manifest_bytes(inner.data, inner.media_type, str(inner_ref))
        data, media_type, digest = inner.data, inner.media_type, inner.digest
        if isinstance(doc, Index):
            raise InvalidArgument(f"pull {ref}: nested image index {chosen.digest} is not supported")
    return Resolved(ref, fetched.digest, doc, data, digest, manifest_media_type(doc, media_type))


class PullJob:
    """One resolved pull; events() downloads, unpacks and records, yielding progress."""

    def __init__(self, store: ImageStore, client: RegistryClient, resolved: Resolved,
                 on_done: Optional[Callable[["PullJob"], None]] = None) -> None:
        self.store, self.client, self.resolved = store, client, resolved
        self.on_done = on_done
        self.record: Optional[ImageRecord] = None
        self.ref = resolved.ref

    @property
    def repo_tag(self) -> Optional[str]:
        return str(self.ref.with_tag(self.ref.tag)) if self.ref.tag else None

    @property
    def repo_digest(self) -> str:
        return f"{self.ref.name}@{self.resolved.top_digest}"

    def is_up_to_date(self) -> bool:
        config_digest = self.resolved.manifest.config.digest
        name = self.repo_tag or self.repo_digest
        if not self.store.exists(name):
            return False
        record = self.store.get(name)
        return record.image_id == config_digest and all(
            layers.is_unpacked(self.store.paths, chain) for chain in record.chain_ids)

    def events(self) -> Iterator[prog.Event]:
        """Run the pull; raise (in-band for the API) on the first failure."""
        try:
            yield prog.status(f"Pulling from {self.ref.repository}", self.ref.tag or self.resolved.top_digest)
            fresh = not self.is_up_to_date()
            if fresh:
                with self.store.lease():
                    yield from self._fetch_and_record()
            else:
                self.record = self.store.get(self.repo_tag or self.repo_digest)
            yield prog.status(f"Digest: {self.resolved.top_digest}")
            verdict = "Downloaded newer image for" if fresh else "Image is up to date for"
            yield prog.status(f"Status: {verdict} {self.ref.familiar()}")
            if self.on_done is not None:
                self.on_done(self)
        finally:
            self.client.close()

    def _fetch_and_record(self) -> Iterator[prog.Event]:
        manifest = self.resolved.manifest
        config = manifest.config
        diff_ids = self._fetch_config(config)
        if len(diff_ids) != len(manifest.layers):
            raise InvalidArgument(
                f"pull {self.ref}: manifest has {len(manifest.layers)} layers, config lists {len(diff_ids)}")
        record = self._record(diff_ids)
        unpacked = {c for c in record.chain_ids if layers.is_unpacked(self.store.paths, c)}
        missing: List[Descriptor] = []
        for layer, chain in zip(manifest.layers, record.chain_ids):
            # The blob itself, even when its layer is unpacked: the record needs it (a layer can
            # outlive its blob, e.g. unpacked from a differently compressed blob of a loaded image).
            have = self.store.has_blob(layer.digest)
            yield prog.status("Already exists" if have else "Pulling fs layer", prog.short_id(layer.digest), True)
            if not have and layer.digest not in {d.digest for d in missing}:
                missing.append(layer)
        # Layers not unpacked yet are unpacked while they download (layers.StreamedUnpack).
        targets = {layer.digest: (layer.diff_id, chain) for layer, chain in zip(record.layers, record.chain_ids)
                   if chain not in unpacked}
        tasks = [functools.partial(self.download, desc, unpack_as=targets.get(desc.digest)) for desc in missing]
        yield from prog.run_parallel(tasks, MAX_CONCURRENT_DOWNLOADS, "pull")
        yield from self._unpack(record, unpacked)
        self.store.put_blob(self.resolved.manifest_bytes, self.resolved.manifest_digest)
        self.record = self.store.add_image(
            self.resolved.manifest_digest, self.resolved.media_type, config.digest, record.layers,
            repo_tag=self.repo_tag, repo_digest=self.repo_digest)

    def _fetch_config(self, config: Descriptor) -> List[str]:
        if not self.store.has_blob(config.digest):
            self.download(config, lambda event: None, threading.Event())
        return self.store.load_config(config.digest).diff_ids

    def _record(self, diff_ids: Sequence[str]) -> ImageRecord:
        """The record-to-be, so that layers.ensure_unpacked can work before it is added."""
        manifest = self.resolved.manifest
        layer_records = [LayerRecord(d.digest, d.media_type, d.size, diff_id)
                         for d, diff_id in zip(manifest.layers, diff_ids)]
        return ImageRecord(manifest.config.digest, self.resolved.manifest_digest, self.resolved.media_type,
                           self.store.load_config(manifest.config.digest), layer_records)

    def _unpack(self, record: ImageRecord, unpacked: Set[str]) -> Iterator[prog.Event]:
        for depth, (layer, chain) in enumerate(zip(record.layers, record.chain_ids), start=1):
            if chain in unpacked:
                continue
            layer_id = prog.short_id(layer.digest)
            yield prog.status("Extracting", layer_id, True)
            # A prefix of the stack has the same chain ids: only this layer gets unpacked.
            layers.ensure_unpacked(self.store, dataclasses.replace(record, layers=record.layers[:depth]))
            yield prog.status("Pull complete", layer_id, True)

    def download(self, desc: Descriptor, emit: prog.Emit, cancelled: threading.Event,
                 unpack_as: Optional[Tuple[str, str]] = None) -> None:
        """Stream one blob into the store, verified by the client and again by the store.

        unpack_as: (diff id, chain id) to unpack the layer as while it downloads.
        """
        layer_id = prog.short_id(desc.digest)
        counter = prog.ByteCounter(emit, "Downloading", layer_id, desc.size, cancelled)
        with self.store.claim_blob(desc.digest, cancelled) as missing:
            if missing:  # else another pull fetched it while this one waited
                started = time.monotonic()
                with self.store.ingest(desc.digest, desc.size) as writer, \
                        self._streamed_unpack(writer, desc.digest, unpack_as) as streamed:
                    self.client.fetch_blob(self.ref, desc, writer.write, counter)
                    fetched = time.monotonic()
                    emit(prog.status("Verifying Checksum", layer_id, True))
                    writer.commit()
                    if streamed is not None:
                        streamed.committed()
                logger.info("fetched blob %s (%d bytes) in %.2fs, committed (and unpacked) after %.2fs",
                            desc.digest, desc.size, fetched - started, time.monotonic() - fetched)
        emit(prog.status("Download complete", layer_id, True))

    @contextlib.contextmanager
    def _streamed_unpack(self, writer: BlobWriter, digest: str,
                         unpack_as: Optional[Tuple[str, str]]) -> Iterator[Optional[layers.StreamedUnpack]]:
        """An unpack that follows the ingest's bytes; waited for (or aborted) on leaving."""
        if unpack_as is None:
            yield None
            return
        streamed = layers.StreamedUnpack(self.store.paths, writer.data_path, digest, *unpack_as)
        writer.on_write = streamed.grew
        try:
            yield streamed
        finally:
            writer.on_write = None
            streamed.close()
