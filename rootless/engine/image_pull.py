"""Pulling an image: resolve, download in parallel into the store, unpack, record.

The shape is containerd's fetch-then-unpack (core/remotes/docker + the content
Ingester) with docker's progress messages (moby distribution/pull_v2.go):
"Pulling from", "Pulling fs layer", "Downloading", "Verifying Checksum",
"Download complete", "Extracting", "Pull complete", "Digest", "Status".

Cancellation follows docker's: a pull whose client went away (abandon()) stops
its work between chunks and removes its partial blobs, except a download that
another pull in this daemon waits for (store.claim_blob makes concurrent pulls
share a blob's download): that one goes on for the waiter, and stops when the
waiters are gone too.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Generator, Iterator, List, Optional, Sequence, Set, Tuple, Union

from rootless.engine import progress as prog
from rootless.errors import InvalidArgument, RootlessError, Unavailable
from rootless.images import layer_dirs, layers, squash_store
from rootless.images.reference import Reference
from rootless.images.store import BlobWriter, ImageRecord, ImageStore, LayerRecord
from rootless.images.types import (
    Descriptor, Index, Manifest, Platform, host_platform, manifest_media_type, parse_manifest_bytes,
    select_platform,
)
from rootless.registry.client import FetchedManifest, Interrupt, RegistryClient
from rootless.registry.media import check_image_media_types

logger = logging.getLogger(__name__)

# Downloads in flight at once (docker's max-concurrent-downloads is 3).
MAX_CONCURRENT_DOWNLOADS = 3


class BlobWaiters:
    """How many pulls of this daemon want each blob right now (downloading it or waiting for it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Dict[str, int] = {}
        self._alone_hooks: Dict[str, Callable[[], None]] = {}

    @contextlib.contextmanager
    def wanting(self, key: str) -> Iterator[None]:
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._counts[key] -= 1
                if not self._counts[key]:
                    del self._counts[key]
                hook = self._alone_hooks.get(key) if self._counts.get(key) == 1 else None
            if hook is not None:
                hook()

    @contextlib.contextmanager
    def alone_hook(self, key: str, hook: Callable[[], None]) -> Iterator[None]:
        """Call hook when the last other pull stops wanting key (the downloader is left alone)."""
        with self._lock:
            self._alone_hooks[key] = hook
        try:
            yield
        finally:
            with self._lock:
                self._alone_hooks.pop(key, None)

    def count(self, key: str) -> int:
        with self._lock:
            return self._counts.get(key, 0)


# One table per process: keys carry the store's blob directory, so two stores never mix.
_WAITERS = BlobWaiters()


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
    check_image_media_types(doc, f"pull {ref}")
    return Resolved(ref, fetched.digest, doc, data, digest, manifest_media_type(doc, media_type))


# The largest image config GET /distribution reads for a platform; a bigger one gives none.
MAX_DISTRIBUTION_CONFIG_BYTES = 4 << 20
_PLATFORM_STRINGS = ("architecture", "os", "os.version", "variant")  # ocispec.Platform's JSON, and os.features


def platform_json(doc: Any) -> Optional[Dict[str, Any]]:
    """An index entry's platform, or an image config's, as moby marshals an ocispec.Platform.

    None when Go's json.Unmarshal into an ocispec.Platform would fail (a field of the wrong type).
    """
    if not isinstance(doc, dict):
        return None
    features = doc.get("os.features")
    if any(not isinstance(doc.get(key) or "", str) for key in _PLATFORM_STRINGS) or not (
            features is None or (isinstance(features, list) and all(isinstance(f, str) for f in features))):
        return None
    body: Dict[str, Any] = {"architecture": doc.get("architecture") or "", "os": doc.get("os") or ""}
    for key in ("os.version", "os.features", "variant"):  # omitempty, in Go's field order
        if doc.get(key):
            body[key] = doc[key]
    return body


def distribution_json(fetched: FetchedManifest, doc: Union[Manifest, Index],
                      config: Optional[bytes]) -> Dict[str, Any]:
    """The body of GET /distribution/{name}/json (moby's router/distribution fetchManifest).

    An index lists the platform of each entry; a manifest the one in its config
    blob (config: its bytes, None when they could not be read), if that names one.
    """
    body: Dict[str, Any] = {
        "Descriptor": {"mediaType": fetched.media_type, "digest": fetched.digest, "size": len(fetched.data)},
        "Platforms": None,
    }
    if isinstance(doc, Index):
        none = {"architecture": "", "os": ""}  # an entry without a platform: Go's zero ocispec.Platform
        body["Platforms"] = [platform_json(d.platform.to_json() if d.platform else {}) or none for d in doc.manifests]
        return body
    try:
        platform = platform_json(json.loads(config)) if config is not None else None
    except ValueError:  # not JSON (UnicodeDecodeError is one too)
        platform = None
    if platform and (platform["os"] or platform["architecture"]):
        body["Platforms"] = [platform]
    return body


def inspect_distribution(client: RegistryClient, ref: Reference) -> Dict[str, Any]:
    """Ask the registry what ref is: its manifest's descriptor and its platforms."""
    fetched = client.get_manifest(ref)
    doc = parse_manifest_bytes(fetched.data, fetched.media_type, str(ref))
    config = _read_config(client, ref, doc.config) if isinstance(doc, Manifest) else None
    return distribution_json(fetched, doc, config)


def _read_config(client: RegistryClient, ref: Reference, config: Descriptor) -> Optional[bytes]:
    """The config blob's bytes, or None: like dockerd, a config it can't read only costs the platform."""
    if config.size > MAX_DISTRIBUTION_CONFIG_BYTES:
        return None
    buffer = io.BytesIO()
    try:
        client.fetch_blob(ref, config, buffer.write)
    except RootlessError as exc:
        logger.info("distribution inspect %s: can't read config %s: %s", ref, config.digest, exc.message)
        return None
    return buffer.getvalue()


class PullJob:
    """One resolved pull; events() downloads, unpacks and records, yielding progress."""

    def __init__(self, store: ImageStore, client: RegistryClient, resolved: Resolved,
                 on_done: Optional[Callable[["PullJob"], None]] = None) -> None:
        self.store, self.client, self.resolved = store, client, resolved
        self.on_done = on_done
        self.record: Optional[ImageRecord] = None
        self.ref = resolved.ref
        # Set when every client went away; the cancel events of this pull's tasks follow it.
        self.abandoned = threading.Event()
        self._task_events: List[threading.Event] = []
        self._transfers: Dict[str, Interrupt] = {}  # waiter key -> the download in flight
        self._lock = threading.Lock()

    def abandon(self) -> None:
        """Cancel this pull: nobody will read its events. Downloads another pull waits for go on."""
        with self._lock:
            if self.abandoned.is_set():
                return
            self.abandoned.set()  # before the tasks' events: they tell abandoning from failing by it
            events = list(self._task_events)
            transfers = list(self._transfers.items())
        logger.info("pull %s: the client went away, cancelling", self.ref)
        for event in events:
            event.set()
        for key, interrupt in transfers:
            if _WAITERS.count(key) <= 1:  # a download nobody else waits for may be blocked in a receive
                interrupt.fire()

    def _follow(self, cancelled: threading.Event) -> None:
        """Let abandon() cancel a task that waits on cancelled."""
        with self._lock:
            self._task_events.append(cancelled)
            if not self.abandoned.is_set():
                return
        cancelled.set()

    def _check_abandoned(self) -> None:
        if self.abandoned.is_set():
            raise Unavailable(f"pull {self.ref}: cancelled: the client went away")

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
        # An image kept as one squashfs file (issue 15) has no layer dirs: its file and blobs suffice.
        as_file = squash_store.has_file(self.store.paths.root, record.image_id) and all(
            self.store.has_blob(layer.digest) for layer in record.layers)
        return record.image_id == config_digest and (as_file or all(
            layer_dirs.is_unpacked(self.store.paths, chain) for chain in record.chain_ids))

    def events(self) -> Generator[prog.Event, None, None]:
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
        unpacked = {c for c in record.chain_ids if layer_dirs.is_unpacked(self.store.paths, c)}
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
        self._check_abandoned()
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
            self._check_abandoned()
            yield prog.status("Extracting", layer_id, True)
            # A prefix of the stack has the same chain ids: only this layer gets unpacked.
            layers.ensure_unpacked(self.store, dataclasses.replace(record, layers=record.layers[:depth]))
            yield prog.status("Pull complete", layer_id, True)

    def download(self, desc: Descriptor, emit: prog.Emit, cancelled: threading.Event,
                 unpack_as: Optional[Tuple[str, str]] = None) -> None:
        """Stream one blob into the store, verified by the client and again by the store.

        unpack_as: (diff id, chain id) to unpack the layer as while it downloads.
        """
        self._follow(cancelled)
        key = f"{self.store.paths.blobs}/{desc.digest}"
        with _WAITERS.wanting(key), self.store.claim_blob(desc.digest, cancelled) as missing:
            if missing:  # else another pull fetched it while this one waited
                with self._transfer(key, desc.digest, cancelled) as interrupt:
                    self._fetch(desc, emit, self._stop_check(desc, key, cancelled), unpack_as, interrupt)
        emit(prog.status("Download complete", prog.short_id(desc.digest), True))

    @contextlib.contextmanager
    def _transfer(self, key: str, digest: str, cancelled: threading.Event) -> Iterator[Interrupt]:
        """An interrupt abandon() can fire while this download runs."""
        interrupt = Interrupt()
        with self._lock:
            self._transfers[key] = interrupt

        def alone() -> None:  # the pulls it went on for went away too
            if self.abandoned.is_set():
                interrupt.fire()
        try:
            with _WAITERS.alone_hook(key, alone):
                yield interrupt
        except Exception:
            if interrupt.fired or cancelled.is_set():  # the ingest is gone by now
                logger.info("pull %s: blob %s: download cancelled, partial data removed", self.ref, digest)
            raise
        finally:
            with self._lock:
                del self._transfers[key]

    def _stop_check(self, desc: Descriptor, key: str, cancelled: threading.Event) -> Callable[[], None]:
        """Raises once this download should stop: checked between chunks."""
        def check() -> None:
            if not cancelled.is_set():
                return
            if self.abandoned.is_set() and _WAITERS.count(key) > 1:
                return  # another pull waits for this blob: finish it for that one
            raise Unavailable(f"pull {self.ref}: blob {desc.digest}: cancelled")
        return check

    def _fetch(self, desc: Descriptor, emit: prog.Emit, stop_check: Callable[[], None],
               unpack_as: Optional[Tuple[str, str]], interrupt: Interrupt) -> None:
        layer_id = prog.short_id(desc.digest)
        counter = prog.ByteCounter(emit, "Downloading", layer_id, desc.size)

        def progress(count: int) -> None:
            stop_check()
            counter(count)

        started = time.monotonic()
        with self.store.ingest(desc.digest, desc.size) as writer, \
                self._streamed_unpack(writer, desc.digest, unpack_as) as streamed:
            self.client.fetch_blob(self.ref, desc, writer.write, progress, interrupt)
            fetched = time.monotonic()
            emit(prog.status("Verifying Checksum", layer_id, True))
            writer.commit()
            if streamed is not None:
                streamed.committed()
        logger.info("fetched blob %s (%d bytes) in %.2fs, committed (and unpacked) after %.2fs",
                    desc.digest, desc.size, fetched - started, time.monotonic() - fetched)

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
