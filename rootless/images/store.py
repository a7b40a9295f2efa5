"""The content-addressed image store: blobs, image records and tags.

Blobs follow containerd's local content store
(plugins/content/local/writer.go): data streams into a private directory under
`ingest/` while it is hashed; commit checks size and digest, makes the file
read-only and renames it to `blobs/sha256/<hex>`. Nothing is visible before
commit, every ingest has its own directory, and the rename is atomic, so
concurrent ingests of one digest cannot corrupt each other (the last rename
replaces identical bytes).

An image is identified by its config digest (the image id). Every record and
tag lives in one JSON file (`Paths.image_index`), rewritten atomically under an
flock, which serialises writers in threads and processes alike. Configs are
not copied into the index: they are read from their blob and cached.

Writers that commit blobs before recording an image (pull, load, build) hold
`lease()`, so that `garbage_collect()` (exclusive) never removes their blobs
between the two steps.

Deleting is ordered so that every intermediate state is one a reader copes
with, and a crash anywhere is finished by the next start (`recover()`):
the image record goes first (one atomic index rewrite: the image is gone);
garbage collection then writes a journal of the blobs and layers it will
delete, renames the layers into the trash (layer_dirs.trash_layers), unlinks the
blobs, empties the trash and drops the journal. So a layer is never visible
half-deleted, and its blob outlives it. (A layer can still outlive its blob:
one unpacked for an image whose layer blob was compressed differently. A
pull then downloads the blob again, see engine/image_pull.py.)

A full filesystem raises diskspace.NoSpace naming it, never a bare OSError.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, cast

from rootless.config.paths import Paths
from rootless.config.settings import StorageReserve
from rootless.errors import Conflict, FailedPrecondition, Internal, InvalidArgument, NotFound, Unavailable
from rootless.images import layer_dirs
from rootless.images.crashpoint import crash_point
from rootless.images.diskspace import is_no_space, no_space
from rootless.images.types import ImageConfig, chain_ids
from rootless.util import fs
from rootless.util.digest import digest_hex, sha256_digest, validate_digest
from rootless.wire.times import MICRO, now_rfc3339

logger = logging.getLogger(__name__)

INDEX_VERSION = 1
_HEX_PREFIX_RE = re.compile(r"^(?:sha256:)?([a-f0-9]{4,64})$")
# Ingest dirs and unpack temp dirs older than this are leftovers of a crash.
STALE_SECONDS = 3600


def rfc3339_now() -> str:
    """TODO(engine-core): engine/engine.py's SystemTime; use wire.times.now_rfc3339(NANO) there."""
    return now_rfc3339(MICRO)


class BlobWriter:
    """One ingest: write() bytes, then commit() verifies and publishes the blob.

    As a context manager, leaving the block without commit (or by an
    exception) removes the partial data.
    """

    def __init__(self, store: "ImageStore", expected_digest: Optional[str], expected_size: Optional[int]) -> None:
        if expected_digest is not None:
            validate_digest(expected_digest)
        self._store = store
        self.expected_digest = expected_digest
        self.expected_size = expected_size
        prefix = (digest_hex(expected_digest)[:16] if expected_digest else "blob") + "-"
        self._dir = ""
        self._file: Optional[IO[bytes]] = None
        try:
            self._dir = tempfile.mkdtemp(prefix=prefix, dir=fs.ensure_dir(store.paths.ingest))
            self._data = os.path.join(self._dir, "data")
            # Unbuffered: every write() is in the page cache when on_write hears of it, so a
            # streamed unpack (layers.StreamedUnpack) can read the file while it grows.
            self._file = open(self._data, "wb", buffering=0)
        except OSError as exc:
            self.abort()
            raise self._no_space(exc) if is_no_space(exc) else exc
        self._hasher = hashlib.sha256()
        self.written = 0
        self.digest: Optional[str] = None
        self.on_write: Optional[Callable[[int], None]] = None  # told the bytes written so far

    @property
    def data_path(self) -> str:
        """The partial file (readable while it is written; gone after commit or abort)."""
        return self._data

    def write(self, data: bytes) -> int:
        if self._file is None:
            raise InvalidArgument("can't write blob: ingest is closed")
        self.written += len(data)
        if self.expected_size is not None and self.written > self.expected_size:
            raise InvalidArgument(
                f"can't write blob: {self.expected_digest or 'blob'}: "
                f"more than the expected {self.expected_size} bytes"
            )
        self._hasher.update(data)
        view = memoryview(data)
        try:
            while view:  # a raw file may write less than asked
                view = view[self._file.write(view) or 0:]
        except OSError as exc:
            if is_no_space(exc):
                self.abort()  # give the space back now, not when the caller unwinds
                raise self._no_space(exc) from exc
            raise
        if self.on_write is not None:
            self.on_write(self.written)
        return len(data)

    def _no_space(self, exc: OSError) -> Exception:
        what = f"can't store blob {self.expected_digest}" if self.expected_digest else "can't store blob"
        return no_space(what, self._store.paths.ingest, exc, self._store.paths.root)

    def _verify(self) -> str:
        digest = "sha256:" + self._hasher.hexdigest()
        name = self.expected_digest or digest
        if self.expected_size is not None and self.written != self.expected_size:
            raise InvalidArgument(
                f"can't commit blob: {name}: got {self.written} bytes, expected {self.expected_size}"
            )
        if self.expected_digest is not None and digest != self.expected_digest:
            raise InvalidArgument(f"can't commit blob: {name}: digest mismatch: content is {digest}")
        return digest

    def commit(self) -> str:
        """Verify and publish; an already present blob is success. Returns the digest."""
        if self.digest is not None:
            return self.digest
        if self._file is None:
            raise InvalidArgument("can't commit blob: ingest was aborted")
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            digest = self._verify()
        except BaseException as exc:
            self.abort()
            if is_no_space(exc):
                raise self._no_space(cast(OSError, exc)) from exc
            raise
        target = self._store.blob_path(digest)
        if not os.path.exists(target):
            os.chmod(self._data, 0o444)
            os.rename(self._data, target)
            try:  # after the rename the blob is committed: only log failures
                fs.fsync_dir(os.path.dirname(target))
            except OSError as exc:
                logger.warning("can't fsync blob dir: %s", exc)
        self.digest = digest
        self._remove_dir()
        return digest

    def abort(self) -> None:
        """Drop the partial data (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._remove_dir()

    def _remove_dir(self) -> None:
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "BlobWriter":
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if self.digest is None:
            self.abort()


@dataclass(frozen=True)
class LayerRecord:
    """One layer of an image: the compressed blob and its uncompressed DiffID."""

    digest: str
    media_type: str
    size: int
    diff_id: str

    def to_json(self) -> Dict[str, Any]:
        return {"digest": self.digest, "media_type": self.media_type, "size": self.size, "diff_id": self.diff_id}

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "LayerRecord":
        return cls(data["digest"], data["media_type"], int(data["size"]), data["diff_id"])


@dataclass(frozen=True)
class ImageRecord:
    """An image as the store knows it; image_id is the config digest."""

    image_id: str
    manifest_digest: str
    manifest_media_type: str
    config: ImageConfig
    layers: List[LayerRecord]
    repo_tags: List[str] = field(default_factory=list)
    repo_digests: List[str] = field(default_factory=list)
    size: int = 0
    added: str = ""
    last_tag_time: str = ""

    @property
    def created(self) -> str:
        return self.config.created or self.added

    @property
    def diff_ids(self) -> List[str]:
        return [layer.diff_id for layer in self.layers]

    @property
    def chain_ids(self) -> List[str]:
        return chain_ids(self.diff_ids)

    @property
    def short_id(self) -> str:
        return digest_hex(self.image_id)[:12]

    def to_json(self) -> Dict[str, Any]:
        """The index entry (the config stays in its blob)."""
        return {
            "image_id": self.image_id, "manifest_digest": self.manifest_digest,
            "manifest_media_type": self.manifest_media_type,
            "layers": [layer.to_json() for layer in self.layers],
            "repo_tags": list(self.repo_tags), "repo_digests": list(self.repo_digests),
            "size": self.size, "added": self.added, "last_tag_time": self.last_tag_time,
        }


@dataclass(frozen=True)
class ImageUsage:
    """One image's share of the disk, for `system df`."""

    record: ImageRecord
    size: int
    shared_size: int


@dataclass(frozen=True)
class DiskUsage:
    images: List[ImageUsage]
    blobs_size: int
    layers_size: int
    reclaimable: int  # the layers of images no container uses, minus those in-use images need


class ImageStore:
    """Blobs under Paths.blobs, image records and tags in Paths.image_index."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        for directory in (paths.blobs, paths.ingest, paths.images, paths.layers, layer_dirs.trash_dir(paths)):
            fs.ensure_dir(directory)
        self._lock = threading.Lock()
        self._cache_key: Optional[Tuple[int, int, int]] = None
        self._cache: Dict[str, Dict[str, Any]] = {}
        self._configs: Dict[str, ImageConfig] = {}
        self._fetch_locks: Dict[str, threading.Lock] = {}

    @property
    def reserve(self) -> StorageReserve:
        """What layer unpacks into this store leave free (Settings.storage_reserve)."""
        return layer_dirs.reserve_for(self.paths)

    @reserve.setter
    def reserve(self, value: StorageReserve) -> None:
        layer_dirs.set_reserve(self.paths, value)

    # -- blobs -------------------------------------------------------------
    def ingest(self, expected_digest: Optional[str] = None, expected_size: Optional[int] = None) -> BlobWriter:
        """Start writing a blob; use as a context manager and call commit()."""
        return BlobWriter(self, expected_digest, expected_size)

    def blob_path(self, digest: str) -> str:
        return os.path.join(self.paths.blobs, digest_hex(digest))

    def has_blob(self, digest: str) -> bool:
        return os.path.exists(self.blob_path(digest))

    def blob_size(self, digest: str) -> int:
        try:
            return os.stat(self.blob_path(digest)).st_size
        except FileNotFoundError:
            raise NotFound(f"no such blob: {digest}") from None

    def open_blob(self, digest: str) -> IO[bytes]:
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"no such blob: {digest}") from None

    def read_blob(self, digest: str) -> bytes:
        with self.open_blob(digest) as f:
            return f.read()

    def put_blob(self, data: bytes, expected_digest: Optional[str] = None) -> str:
        """Store bytes as a blob and return its digest."""
        digest = sha256_digest(data)
        if self.has_blob(digest) and expected_digest in (None, digest):
            return digest
        with self.ingest(expected_digest, len(data)) as writer:
            writer.write(data)
            return writer.commit()

    @contextlib.contextmanager
    def claim_blob(self, digest: str, cancelled: Optional[threading.Event] = None) -> Iterator[bool]:
        """One fetch of a blob at a time in this process; yields whether it is still missing.

        Concurrent pulls of one image share their downloads: the second waits for
        the first and then finds the blob committed, instead of fetching it again.
        """
        with self._lock:
            lock = self._fetch_locks.setdefault(digest, threading.Lock())
        while not lock.acquire(timeout=0.1):
            if cancelled is not None and cancelled.is_set():
                raise Unavailable(f"fetch blob {digest}: cancelled")
        try:
            yield not self.has_blob(digest)
        finally:
            lock.release()

    def load_config(self, config_digest: str) -> ImageConfig:
        """The parsed config blob, cached (blobs never change)."""
        with self._lock:
            cached = self._configs.get(config_digest)
        if cached is not None:
            return cached
        try:
            config = ImageConfig.from_json(json.loads(self.read_blob(config_digest)))
        except ValueError as exc:
            raise InvalidArgument(f"can't parse image config: {config_digest}: {exc}") from exc
        with self._lock:
            self._configs[config_digest] = config
        return config

    @contextlib.contextmanager
    def lease(self) -> Iterator[None]:
        """Keep garbage_collect() away while blobs are committed but not yet recorded."""
        with fs.locked(self.paths.gc_lock, exclusive=False):
            yield

    # -- the index -----------------------------------------------------------
    def _load_index(self) -> Dict[str, Dict[str, Any]]:
        """Image entries by id, re-read only when the file changed."""
        try:
            info = os.stat(self.paths.image_index)
        except FileNotFoundError:
            return {}
        key = (info.st_ino, info.st_mtime_ns, info.st_size)
        with self._lock:
            if key == self._cache_key:
                return dict(self._cache)
        try:
            data = fs.read_json(self.paths.image_index, default={}) or {}
            images = dict(data.get("images", {}))
        except (ValueError, AttributeError) as exc:
            raise Internal(f"can't read image index: {self.paths.image_index}: {exc}",
                           hint="restore it from a backup, or remove it and pull the images again") from exc
        with self._lock:
            self._cache_key, self._cache = key, images
        return dict(images)

    @contextlib.contextmanager
    def _mutate(self) -> Iterator[Dict[str, Dict[str, Any]]]:
        """Read-modify-write the index under its flock (threads and processes)."""
        with fs.locked(self.paths.image_index_lock):
            with self._lock:
                self._cache_key = None
            images = self._load_index()
            yield images
            try:
                fs.atomic_write_json(self.paths.image_index, {"version": INDEX_VERSION, "images": images})
            except OSError as exc:
                if is_no_space(exc):
                    raise no_space("can't record image", self.paths.images, exc, self.paths.root) from exc
                raise

    def _record(self, entry: Dict[str, Any]) -> ImageRecord:
        return ImageRecord(
            image_id=entry["image_id"], manifest_digest=entry["manifest_digest"],
            manifest_media_type=entry["manifest_media_type"], config=self.load_config(entry["image_id"]),
            layers=[LayerRecord.from_json(layer) for layer in entry.get("layers", [])],
            repo_tags=list(entry.get("repo_tags", [])), repo_digests=list(entry.get("repo_digests", [])),
            size=int(entry.get("size", 0)), added=entry.get("added", ""),
            last_tag_time=entry.get("last_tag_time", ""),
        )

    # -- images --------------------------------------------------------------
    def add_image(
        self,
        manifest_digest: str,
        manifest_media_type: str,
        config_digest: str,
        layers: Sequence[LayerRecord],
        repo_tag: Optional[str] = None,
        repo_digest: Optional[str] = None,
    ) -> ImageRecord:
        """Record an image whose blobs are committed; tag it if repo_tag is given."""
        self._check_blobs([manifest_digest, config_digest] + [layer.digest for layer in layers])
        config = self.load_config(config_digest)
        if config.diff_ids != [layer.diff_id for layer in layers]:
            raise InvalidArgument(
                f"can't add image: {config_digest}: layers do not match the config's rootfs.diff_ids"
            )
        size = self.blob_size(config_digest) + sum(layer.size for layer in layers)
        new = ImageRecord(config_digest, manifest_digest, manifest_media_type, config, list(layers),
                          size=size, added=now_rfc3339(MICRO))
        with self._mutate() as images:
            old = images.get(config_digest)
            entry = new.to_json()
            if old is not None:
                entry.update(repo_tags=old.get("repo_tags", []), repo_digests=old.get("repo_digests", []),
                             added=old.get("added", new.added), last_tag_time=old.get("last_tag_time", ""))
            images[config_digest] = entry
            if repo_tag:
                _move_tag(images, config_digest, repo_tag)
            if repo_digest and repo_digest not in entry["repo_digests"]:
                entry["repo_digests"].append(repo_digest)
        logger.info("added image %s (%s)", config_digest, repo_tag or "untagged")
        return self._record(images[config_digest])

    def _check_blobs(self, digests: Sequence[str]) -> None:
        for digest in digests:
            if not self.has_blob(digest):
                raise NotFound(f"can't add image: blob {digest} is not in the store")

    def list(self) -> List[ImageRecord]:
        """Every image, newest first."""
        records = [self._record(entry) for entry in self._load_index().values()]
        return sorted(records, key=lambda r: (r.created, r.image_id), reverse=True)

    def get(self, name_or_id: str) -> ImageRecord:
        """Look up by full-form tag, repo digest, image id or a unique id prefix (>= 4 hex)."""
        images = self._load_index()
        image_id = _resolve(images, name_or_id)
        if image_id is None:
            raise NotFound(f"No such image: {name_or_id}")
        return self._record(images[image_id])

    def exists(self, name_or_id: str) -> bool:
        return _resolve(self._load_index(), name_or_id) is not None

    def tag(self, image_id: str, full_ref: str) -> ImageRecord:
        """Point full_ref at image_id, moving it away from any other image."""
        with self._mutate() as images:
            if image_id not in images:
                raise NotFound(f"No such image: {image_id}")
            _move_tag(images, image_id, full_ref)
        return self._record(images[image_id])

    def untag(self, full_ref: str) -> ImageRecord:
        """Remove a tag or repo digest; returns the image it pointed at."""
        with self._mutate() as images:
            for entry in images.values():
                for key in ("repo_tags", "repo_digests"):
                    if full_ref in entry.get(key, []):
                        entry[key].remove(full_ref)
                        return self._record(entry)
        raise NotFound(f"No such image: {full_ref}")

    def remove(self, image_id: str) -> ImageRecord:
        """Delete the record; its blobs and layers become garbage."""
        with self._mutate() as images:
            entry = images.pop(image_id, None)
            if entry is None:
                raise NotFound(f"No such image: {image_id}")
        logger.info("removed image %s", image_id)
        return self._record(entry)

    # -- garbage -------------------------------------------------------------
    def referenced(self) -> Tuple[Set[str], Set[str]]:
        """(blob digests, layer chain ids) some image needs."""
        blobs: Set[str] = set()
        chains: Set[str] = set()
        for entry in self._load_index().values():
            blobs.update([entry["image_id"], entry["manifest_digest"]])
            blobs.update(layer["digest"] for layer in entry.get("layers", []))
            chains.update(chain_ids([layer["diff_id"] for layer in entry.get("layers", [])]))
        return blobs, chains

    def garbage_collect(self, keep_chain_ids: Iterable[str] = (), wait: bool = True) -> int:
        """Remove blobs, unpacked layers and stale ingests no image needs; returns bytes freed.

        keep_chain_ids: layers something else still stacks (containers of a force-removed image).
        wait=False: do nothing (return 0) while a pull, load or build holds a lease.
        """
        lock = fs.FileLock(self.paths.gc_lock)
        try:
            lock.acquire(exclusive=True, blocking=wait)
        except FailedPrecondition:
            logger.info("garbage collection skipped: a pull, load or build is under way")
            return 0
        try:
            blobs, chains = self.referenced()
            chains.update(keep_chain_ids)
            garbage = [d for d in self._blob_digests() if d not in blobs]
            layers = layer_dirs.unreferenced(self.paths, chains)
            if garbage or layers:
                self._write_journal(garbage, layers)
            freed = self._delete(garbage, layers)
            layer_dirs.remove_stale_unpacks(self.paths, STALE_SECONDS)
            self._remove_stale_ingests()
        finally:
            lock.release()
        logger.info("garbage collection freed %d bytes", freed)
        return freed

    def _blob_digests(self) -> List[str]:
        return ["sha256:" + name for name in os.listdir(self.paths.blobs)]

    def _write_journal(self, blobs: List[str], chain_ids: List[str]) -> None:
        """Record what this collection deletes, so that a restart after a crash finishes it."""
        try:
            fs.atomic_write_json(layer_dirs.journal_path(self.paths), {"blobs": blobs, "layers": chain_ids})
        except OSError as exc:
            if not is_no_space(exc):
                raise
            # Deleting is what frees the space: go on. A crash now leaves garbage that is
            # unreferenced, so invisible, until the next collection.
            logger.warning("can't write the garbage collection journal (%s): deleting without it", exc)
        crash_point("gc:after-journal")

    def _delete(self, blobs: List[str], chain_ids: List[str]) -> int:
        """Layers into the trash, then blobs, then the trash's contents, then the journal.

        Layers go first: a crash between the steps leaves blobs without their
        layers (unpacked again when needed), never a visible layer whose blob is gone.
        """
        freed = layer_dirs.trash_layers(self.paths, chain_ids)
        for digest in blobs:
            path = self.blob_path(digest)
            with contextlib.suppress(FileNotFoundError):
                freed += os.lstat(path).st_size
                os.unlink(path)
                crash_point("gc:after-blob-unlinked")
        if blobs:
            with contextlib.suppress(OSError):
                fs.fsync_dir(self.paths.blobs)
        layer_dirs.empty_trash(self.paths)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(layer_dirs.journal_path(self.paths))
        return freed

    def recover(self) -> None:
        """Finish what a killed daemon left: a garbage collection, ingests, unpacks in progress.

        Only for the store's one owner at start-up (the daemon, holding the store
        lock): then nothing else can be writing. A journaled collection is
        finished for what is still unreferenced; the trash is emptied. Committed
        blobs and complete layers stay; they are verified content a later pull reuses.
        """
        self._finish_collection()
        ingests = os.listdir(self.paths.ingest)
        for name in ingests:
            shutil.rmtree(os.path.join(self.paths.ingest, name), ignore_errors=True)
        unpacks = layer_dirs.remove_unfinished(self.paths)
        if ingests or unpacks:
            logger.warning("removed %d unfinished downloads and %d unfinished layer unpacks",
                           len(ingests), unpacks)

    def _finish_collection(self) -> None:
        try:
            journal = fs.read_json(layer_dirs.journal_path(self.paths), default=None)
        except ValueError:  # torn: the atomic write makes this all but impossible
            journal = None
        if isinstance(journal, dict):
            blobs, chains = self.referenced()
            garbage = [d for d in journal.get("blobs", []) if d not in blobs]
            layers = [c for c in journal.get("layers", []) if c not in chains]
            logger.warning("finishing an interrupted garbage collection: %d blobs, %d layers",
                           len(garbage), len(layers))
            self._delete(garbage, layers)
        trashed = layer_dirs.empty_trash(self.paths)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(layer_dirs.journal_path(self.paths))
        if trashed:
            logger.warning("emptied %d entries a killed garbage collection left in the trash", trashed)

    def _remove_stale_ingests(self) -> None:
        deadline = time.time() - STALE_SECONDS
        for name in os.listdir(self.paths.ingest):
            path = os.path.join(self.paths.ingest, name)
            with contextlib.suppress(FileNotFoundError):
                if os.lstat(path).st_mtime < deadline:
                    shutil.rmtree(path, ignore_errors=True)

    def disk_usage(self, in_use: Iterable[str] = ()) -> DiskUsage:
        """Per-image and total sizes; in_use: ids of images containers use.

        A layer counts with its unpacked size (what docker reports), or its blob's
        while it is not unpacked. Reclaimable is what removing every image no
        container uses would free: the layers no in-use image stacks. (docker's
        CLI estimates it from SharedSize instead, which counts a layer an in-use
        image shares with an unused one as reclaimable; podman-system-df(1) notes
        the same.)
        """
        records = self.list()
        sizes: Dict[str, int] = {}
        users: Dict[str, int] = {}
        for record in records:
            for layer, chain_id in zip(record.layers, record.chain_ids):
                sizes.setdefault(chain_id, layer_dirs.unpacked_size(self.paths, chain_id) or layer.size)
            for chain_id in set(record.chain_ids):
                users[chain_id] = users.get(chain_id, 0) + 1
        used_ids = set(in_use)
        kept = {c for r in records if r.image_id in used_ids for c in r.chain_ids}
        usages = []
        for record in records:
            chains = set(record.chain_ids)
            shared = sum(sizes[c] for c in chains if users[c] > 1)
            usages.append(ImageUsage(record, sum(sizes[c] for c in chains) or record.size, shared))
        blobs_size = sum(_file_size(os.path.join(self.paths.blobs, n)) for n in os.listdir(self.paths.blobs))
        return DiskUsage(usages, blobs_size, sum(sizes.values()),
                         sum(size for c, size in sizes.items() if c not in kept))


def _file_size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except FileNotFoundError:
        return 0


def _move_tag(images: Dict[str, Dict[str, Any]], image_id: str, full_ref: str) -> None:
    for other_id, entry in images.items():
        if other_id != image_id and full_ref in entry.get("repo_tags", []):
            entry["repo_tags"].remove(full_ref)
    entry = images[image_id]
    tags = entry.setdefault("repo_tags", [])
    if full_ref not in tags:
        tags.append(full_ref)
    entry["last_tag_time"] = now_rfc3339(MICRO)


def _resolve(images: Dict[str, Dict[str, Any]], name: str) -> Optional[str]:
    """The image id a name means: tag, then repo digest, then id or id prefix."""
    for key in ("repo_tags", "repo_digests"):
        for image_id, entry in images.items():
            if name in entry.get(key, []):
                return image_id
    match = _HEX_PREFIX_RE.match(name)
    if not match:
        return None
    prefix = "sha256:" + match.group(1)
    found = [image_id for image_id in images if image_id.startswith(prefix)]
    if len(found) > 1:
        raise Conflict(f"can't resolve image: {name}: ambiguous id prefix, {len(found)} images match")
    return found[0] if found else None

