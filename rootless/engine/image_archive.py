"""docker save / docker load: image archives.

save writes what Moby >= 25 writes (image/spec/v1.2 "docker-archive" plus an
OCI image layout in the same tar): manifest.json, repositories, oci-layout,
index.json and every blob under blobs/sha256/. Layer blobs go out as stored
(gzip when pulled); docker load decompresses them, so does ours.

load accepts that format, the older one (<id>/layer.tar, <id>.json) and a
plain OCI layout (index.json only), gzip-compressed or not.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import posixpath
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from typing import IO, Any, Dict, Iterator, List, Optional, Sequence, Tuple

from rootless.errors import InvalidArgument, NotFound
from rootless.images import layers
from rootless.images.reference import parse_reference
from rootless.images.store import ImageRecord, ImageStore, LayerRecord
from rootless.images.types import (
    MT_OCI_CONFIG, MT_OCI_LAYER, MT_OCI_LAYER_GZIP, MT_OCI_LAYER_ZSTD, MT_OCI_MANIFEST,
    Index, Manifest, host_platform, parse_manifest_bytes, select_platform,
)
from rootless.util import fs
from rootless.util.digest import digest_hex

logger = logging.getLogger(__name__)

BLOCK = 512
CHUNK = 1 << 20
_LAYER_TYPE_BY_COMPRESSION = {"gzip": MT_OCI_LAYER_GZIP, "zstd": MT_OCI_LAYER_ZSTD, "none": MT_OCI_LAYER}


# -- save ------------------------------------------------------------------------------


def _member(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def _tar_bytes(name: str, data: bytes) -> Iterator[bytes]:
    yield _member(name, len(data)) + data + _padding(len(data))


def _tar_blob(store: ImageStore, digest: str) -> Iterator[bytes]:
    """One blob as a tar member, streamed from the store in chunks."""
    size = store.blob_size(digest)
    yield _member(f"blobs/sha256/{digest_hex(digest)}", size)
    with store.open_blob(digest) as blob:
        for chunk in iter(lambda: blob.read(CHUNK), b""):
            yield chunk
    yield _padding(size)


def _familiar(full: str) -> str:
    return parse_reference(full, default_tag=None).familiar()


def save_archive(store: ImageStore, records: Sequence[Tuple[ImageRecord, List[str]]]) -> Iterator[bytes]:
    """The tar stream of images; each with the tags (full form) to record for it."""
    manifest_json: List[Dict[str, Any]] = []
    repositories: Dict[str, Dict[str, str]] = {}
    index: List[Dict[str, Any]] = []
    written = set()
    for record, tags in records:
        for digest in [record.image_id, record.manifest_digest] + [layer.digest for layer in record.layers]:
            if digest not in written:
                written.add(digest)
                yield from _tar_blob(store, digest)
        manifest_json.append({
            "Config": f"blobs/sha256/{digest_hex(record.image_id)}",
            "RepoTags": [_familiar(t) for t in tags] or None,
            "Layers": [f"blobs/sha256/{digest_hex(layer.digest)}" for layer in record.layers],
        })
        for tag in tags:
            ref = parse_reference(tag)
            repositories.setdefault(ref.familiar_name, {})[ref.tag or "latest"] = digest_hex(record.image_id)
        index += _index_entries(record, store.blob_size(record.manifest_digest), tags)
    yield from _tar_bytes("manifest.json", json.dumps(manifest_json).encode())
    yield from _tar_bytes("repositories", json.dumps(repositories).encode())
    yield from _tar_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    yield from _tar_bytes("index.json", json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                                     "manifests": index}).encode())
    yield b"\0" * (2 * BLOCK)


def _index_entries(record: ImageRecord, size: int, tags: List[str]) -> List[Dict[str, Any]]:
    base = {"mediaType": record.manifest_media_type, "digest": record.manifest_digest, "size": size}
    if not tags:
        return [base]
    return [dict(base, annotations={"io.containerd.image.name": tag,
                                    "org.opencontainers.image.ref.name": parse_reference(tag).tag or "latest"})
            for tag in tags]


# -- load ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """One image found in an archive: its record and the tags it carried."""

    record: ImageRecord
    tags: List[str]


def _safe_name(name: str) -> Optional[str]:
    clean = posixpath.normpath(name.lstrip("/"))
    if clean.startswith("..") or clean in (".", ""):
        return None
    return clean


def extract_archive(stream: IO[bytes], target: str) -> None:
    """Unpack the regular files of a (maybe gzip) tar stream under target; nothing else."""
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:  # type: ignore[call-overload]
            for member in tar:
                name = _safe_name(member.name)
                if name is None or not member.isfile():
                    continue
                path = os.path.join(target, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                with source, open(path, "wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidArgument(f"load images: invalid archive: {exc}") from exc


def _annotated_name(annotations: Dict[str, str]) -> Optional[str]:
    """containerd's full name annotation; else ref.name when it holds a whole reference (skopeo)."""
    name = annotations.get("io.containerd.image.name")
    if name:
        return name
    ref_name = annotations.get("org.opencontainers.image.ref.name", "")
    return ref_name if "/" in ref_name else None


class ArchiveLoader:
    """Reads an extracted archive dir into the store."""

    def __init__(self, store: ImageStore, root: str) -> None:
        self.store, self.root = store, root

    def _path(self, relative: str) -> str:
        name = _safe_name(relative)
        path = os.path.join(self.root, name or "")
        if name is None or not os.path.isfile(path):
            raise InvalidArgument(f"load images: archive misses {relative!r}")
        return path

    def _ingest(self, relative: str, expected: Optional[str] = None) -> Tuple[str, int]:
        with open(self._path(relative), "rb") as src, self.store.ingest(expected) as writer:
            for chunk in iter(lambda: src.read(CHUNK), b""):
                writer.write(chunk)
            return writer.commit(), writer.written

    def load(self) -> List[Loaded]:
        if os.path.isfile(os.path.join(self.root, "manifest.json")):
            return [self._load_docker_entry(e) for e in self._manifest_json()]
        if os.path.isfile(os.path.join(self.root, "index.json")):
            return self._load_oci_layout()
        raise InvalidArgument("load images: neither manifest.json nor index.json in the archive",
                              hint="give a tar made by docker save, rootless save or an OCI layout")

    def _manifest_json(self) -> List[Dict[str, Any]]:
        data = fs.read_json(self._path("manifest.json"))
        if not isinstance(data, list):
            raise InvalidArgument("load images: manifest.json is not a list")
        return data

    def _load_docker_entry(self, entry: Dict[str, Any]) -> Loaded:
        config_digest, _ = self._ingest(entry["Config"])
        layer_records = []
        diff_ids = self.store.load_config(config_digest).diff_ids
        if len(diff_ids) != len(entry.get("Layers") or []):
            raise InvalidArgument(f"load images: {entry['Config']}: layer count differs from the config")
        for relative, diff_id in zip(entry.get("Layers") or [], diff_ids):
            digest, size = self._ingest(relative)
            with self.store.open_blob(digest) as blob:
                media_type = _LAYER_TYPE_BY_COMPRESSION[layers.detect_compression(blob.read(4))]
            layer_records.append(LayerRecord(digest, media_type, size, diff_id))
        config_size = self.store.blob_size(config_digest)
        manifest = {
            "schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
            "config": {"mediaType": MT_OCI_CONFIG, "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": l.media_type, "digest": l.digest, "size": l.size} for l in layer_records],
        }
        manifest_digest = self.store.put_blob(json.dumps(manifest, separators=(",", ":")).encode())
        tags = [str(parse_reference(t)) for t in entry.get("RepoTags") or []]
        return self._record(manifest_digest, MT_OCI_MANIFEST, config_digest, layer_records, tags)

    def _load_oci_layout(self) -> List[Loaded]:
        index = Index.from_json(fs.read_json(self._path("index.json")))
        loaded: Dict[str, Loaded] = {}
        for desc in index.manifests:
            name = _annotated_name(desc.annotations or {})
            manifest_digest, manifest = self._oci_manifest(desc.digest, desc.media_type)
            previous = loaded.get(manifest_digest)
            tags = (previous.tags if previous else []) + ([str(parse_reference(name))] if name else [])
            loaded[manifest_digest] = self._load_oci_manifest(manifest_digest, manifest, tags)
        return list(loaded.values())

    def _oci_manifest(self, digest: str, media_type: str) -> Tuple[str, Manifest]:
        self._ingest(f"blobs/sha256/{digest_hex(digest)}", digest)
        doc = parse_manifest_bytes(self.store.read_blob(digest), media_type)
        if isinstance(doc, Index):  # a multi-platform image: this host's platform
            here = host_platform()
            chosen = select_platform(doc, here.os, here.architecture, here.variant)
            return self._oci_manifest(chosen.digest, chosen.media_type)
        return digest, doc

    def _load_oci_manifest(self, manifest_digest: str, manifest: Manifest, tags: List[str]) -> Loaded:
        config = manifest.config
        self._ingest(f"blobs/sha256/{digest_hex(config.digest)}", config.digest)
        diff_ids = self.store.load_config(config.digest).diff_ids
        layer_records = []
        for desc, diff_id in zip(manifest.layers, diff_ids):
            self._ingest(f"blobs/sha256/{digest_hex(desc.digest)}", desc.digest)
            layer_records.append(LayerRecord(desc.digest, desc.media_type, desc.size, diff_id))
        media_type = manifest.media_type or MT_OCI_MANIFEST
        return self._record(manifest_digest, media_type, config.digest, layer_records, tags)

    def _record(self, manifest_digest: str, media_type: str, config_digest: str,
                layer_records: List[LayerRecord], tags: List[str]) -> Loaded:
        pending = ImageRecord(config_digest, manifest_digest, media_type,
                              self.store.load_config(config_digest), layer_records)
        layers.ensure_unpacked(self.store, pending)
        record = self.store.add_image(manifest_digest, media_type, config_digest, layer_records)
        for tag in tags:
            record = self.store.tag(record.image_id, tag)
        return Loaded(record, tags)


def load_archive(store: ImageStore, stream: IO[bytes], tmp_dir: str) -> List[Loaded]:
    """Extract stream into a private temp dir and load every image it holds."""
    with contextlib.ExitStack() as stack:
        root = tempfile.mkdtemp(prefix="load-", dir=fs.ensure_dir(tmp_dir))
        stack.callback(shutil.rmtree, root, True)
        extract_archive(stream, root)
        with store.lease():
            return ArchiveLoader(store, root).load()


def find_for_save(records_by_name: List[Tuple[ImageRecord, Optional[str]]]) -> List[Tuple[ImageRecord, List[str]]]:
    """Group requested names by image: a name that is a tag is saved as that tag; an id saves all tags."""
    grouped: Dict[str, Tuple[ImageRecord, List[str]]] = {}
    for record, tag in records_by_name:
        entry = grouped.setdefault(record.image_id, (record, []))
        wanted = [tag] if tag else list(record.repo_tags)
        entry[1].extend(t for t in wanted if t not in entry[1])
    if not grouped:
        raise NotFound("save: no images given")
    return list(grouped.values())


def import_rootfs(store: ImageStore, stream: IO[bytes], tag: Optional[str], message: str,
                  created: str) -> ImageRecord:
    """docker import: one (maybe compressed) rootfs tar becomes a one-layer image."""
    with store.lease():
        with store.ingest() as writer:
            for chunk in iter(lambda: stream.read(CHUNK), b""):
                writer.write(chunk)
            layer_digest = writer.commit()
        with contextlib.ExitStack() as stack, store.open_blob(layer_digest) as raw:
            plain = layers.open_uncompressed(raw, stack)
            diff_id = "sha256:" + _sha256_stream(plain)
        with store.open_blob(layer_digest) as blob:
            media_type = _LAYER_TYPE_BY_COMPRESSION[layers.detect_compression(blob.read(4))]
        here = host_platform()
        config = {"architecture": here.architecture, "os": here.os, "created": created, "config": {},
                  "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                  "history": [{"created": created, "comment": message or "Imported from -"}]}
        config_digest = store.put_blob(json.dumps(config, separators=(",", ":")).encode())
        layer = LayerRecord(layer_digest, media_type, store.blob_size(layer_digest), diff_id)
        manifest = {"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
                    "config": {"mediaType": MT_OCI_CONFIG, "digest": config_digest,
                               "size": store.blob_size(config_digest)},
                    "layers": [{"mediaType": media_type, "digest": layer_digest, "size": layer.size}]}
        manifest_digest = store.put_blob(json.dumps(manifest, separators=(",", ":")).encode())
        pending = ImageRecord(config_digest, manifest_digest, MT_OCI_MANIFEST, store.load_config(config_digest), [layer])
        layers.ensure_unpacked(store, pending)
        return store.add_image(manifest_digest, MT_OCI_MANIFEST, config_digest, [layer], repo_tag=tag)


def _sha256_stream(stream: IO[bytes]) -> str:
    hasher = hashlib.sha256()
    for chunk in iter(lambda: stream.read(CHUNK), b""):
        hasher.update(chunk)
    return hasher.hexdigest()

