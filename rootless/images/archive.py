"""`docker save` / `docker load` / `docker import` archives.

save_archive (an iterator of chunks, for HTTP) writes what Moby >= 25 writes:
one tar that is both a docker-archive (manifest.json [{Config, RepoTags,
Layers}] + repositories) and an OCI image layout (oci-layout, index.json, blobs/sha256/*), with the blobs exactly as the
store holds them, so manifest digests (and repo digests) survive a round trip.
docker load decompresses layer files itself, so compressed layers are fine.

load reads that format, the legacy docker-archive of docker < 25 and podman
(<id>.json, <id>.tar or <id>/layer.tar, layer symlinks) and plain OCI layouts, gzip/zstd-compressed or not. Every file
is streamed into the store through ingest: files under blobs/sha256/ must
match their names, the others get their digest computed.

Loading an image the store has already (same config digest, so the same
image id and layers) only adds its tags, as docker does: its record keeps the
manifest and layer blobs it was pulled with. A legacy archive carries
uncompressed layers and no manifest; recording those instead would orphan the
pulled blobs for the next garbage collection and change what a push sends.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import posixpath
import shlex
import tarfile
import zlib
from dataclasses import dataclass, field
from typing import IO, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import zstandard

from rootless.errors import Internal, InvalidArgument, NotFound
from rootless.images import layer_tar
from rootless.images import types
from rootless.images.commit import new_image, put_manifest
from rootless.images.reference import parse_reference
from rootless.images.store import ImageRecord, ImageStore, LayerRecord
from rootless.images.types import ContainerConfig, Index, Manifest, Platform
from rootless.util.digest import DIGEST_RE, digest_hex

logger = logging.getLogger(__name__)

BUFSIZE = 1 << 20
# Top-level files read into memory; anything bigger is not a real one.
METADATA_FILES = ("manifest.json", "index.json", "repositories", "oci-layout")
METADATA_MAX = 16 << 20
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
LAYER_TYPE_BY_COMPRESSION = {"gzip": types.MT_OCI_LAYER_GZIP, "zstd": types.MT_OCI_LAYER_ZSTD,
                             "none": types.MT_OCI_LAYER}


SaveItem = Tuple[ImageRecord, Sequence[str]]  # an image and the full-form tags to write (none: by id)


@dataclass
class LoadedImage:
    """One image read from an archive and the full-form tags it carried."""

    record: ImageRecord
    tags: List[str] = field(default_factory=list)


# -- save ------------------------------------------------------------------------
def save_archive(store: ImageStore, items: Sequence[SaveItem]) -> Iterator[bytes]:
    """The tar stream of a docker-archive + OCI layout of the images, in chunks (for HTTP)."""
    written = set()
    yield _dir_header("blobs") + _dir_header("blobs/sha256")
    for record, _tags in items:
        for digest in [layer.digest for layer in record.layers] + [record.image_id, record.manifest_digest]:
            if digest not in written:
                written.add(digest)
                yield from _blob_member(store, digest)
    yield _bytes_member("index.json", _json(_layout_index(store, items)))
    yield _bytes_member("manifest.json", _json([_manifest_entry(record, tags) for record, tags in items]))
    yield _bytes_member("oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
    yield _bytes_member("repositories", _json(_repositories(items)))
    yield b"\0" * (2 * tarfile.BLOCKSIZE)  # end-of-archive


def save_images(store: ImageStore, items: Sequence[SaveItem], out: IO[bytes]) -> None:
    """Write save_archive() to a file."""
    for chunk in save_archive(store, items):
        out.write(chunk)


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _blob_name(digest: str) -> str:
    return f"blobs/sha256/{digest_hex(digest)}"


def _header(name: str, size: int = 0, mode: int = 0o644, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.type, info.mtime = size, mode, kind, 0
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % tarfile.BLOCKSIZE)


def _dir_header(name: str) -> bytes:
    return _header(name, mode=0o755, kind=tarfile.DIRTYPE)


def _bytes_member(name: str, data: bytes) -> bytes:
    return _header(name, len(data)) + data + _padding(len(data))


def _blob_member(store: ImageStore, digest: str) -> Iterator[bytes]:
    size = store.blob_size(digest)
    yield _header(_blob_name(digest), size, 0o444)
    with store.open_blob(digest) as blob:
        copied = 0
        for chunk in iter(lambda: blob.read(BUFSIZE), b""):
            copied += len(chunk)
            yield chunk
    if copied != size:
        raise Internal(f"can't save blob: {digest}: size changed while reading")
    yield _padding(size)


def _familiar(full_ref: str) -> str:
    try:
        return parse_reference(full_ref).familiar()
    except InvalidArgument:
        return full_ref


def _manifest_entry(record: ImageRecord, tags: Sequence[str]) -> Dict[str, Any]:
    return {"Config": _blob_name(record.image_id),
            "RepoTags": [_familiar(tag) for tag in tags] or None,
            "Layers": [_blob_name(layer.digest) for layer in record.layers]}


def _layout_index(store: ImageStore, items: Sequence[SaveItem]) -> Dict[str, Any]:
    manifests = []
    for record, tags in items:
        base = {"mediaType": record.manifest_media_type, "digest": record.manifest_digest,
                "size": store.blob_size(record.manifest_digest)}
        for tag in tags:
            ref = parse_reference(tag)
            manifests.append({**base, "annotations": {ANNOTATION_IMAGE_NAME: tag,
                                                      ANNOTATION_REF_NAME: ref.tag or "latest"}})
        if not tags:
            manifests.append(base)
    return {"schemaVersion": 2, "mediaType": types.MT_OCI_INDEX, "manifests": manifests}


def _repositories(items: Sequence[SaveItem]) -> Dict[str, Dict[str, str]]:
    """The pre-1.10 `repositories` file: repo -> tag -> top layer id."""
    repos: Dict[str, Dict[str, str]] = {}
    for record, tags in items:
        if not record.layers:
            continue
        for tag in tags:
            ref = parse_reference(tag)
            repos.setdefault(ref.familiar_name, {})[ref.tag or "latest"] = digest_hex(record.layers[-1].diff_id)
    return repos


# -- load ------------------------------------------------------------------------
@dataclass
class _Unpacked:
    """What a streamed archive left behind: blobs by archive path, small metadata files."""

    digests: Dict[str, str] = field(default_factory=dict)
    links: Dict[str, str] = field(default_factory=dict)
    metadata: Dict[str, Any] = field(default_factory=dict)

    def digest_of(self, path: str) -> str:
        path = posixpath.normpath(path)
        for _ in range(16):  # follow the layer symlinks the legacy format uses for duplicates
            if path in self.digests:
                return self.digests[path]
            if path not in self.links:
                break
            path = self.links[path]
        raise InvalidArgument(f"can't load archive: {path!r} is referenced but not in the archive")


def load_archive(store: ImageStore, stream: IO[bytes]) -> List[LoadedImage]:
    """Read a docker-archive or OCI layout tar (maybe compressed) into the store."""
    with store.lease():
        found = _read_archive(store, stream)
        if "manifest.json" in found.metadata:
            images = _load_docker_entries(store, found)
        elif "index.json" in found.metadata:
            images = _load_oci_layout(store, found)
        else:
            raise InvalidArgument("can't load archive: neither manifest.json nor index.json found",
                                  hint="is this the output of `docker save`?")
    for image in images:
        logger.info("loaded image %s %s", image.record.image_id, image.tags)
    return images


def _read_archive(store: ImageStore, stream: IO[bytes]) -> _Unpacked:
    found = _Unpacked()
    with contextlib.ExitStack() as stack:
        source = layer_tar.open_uncompressed(stream, stack)
        try:
            tar = stack.enter_context(layer_tar.open_tar_stream(source))
            for member in tar:
                _read_member(store, tar, member, found)
        except (tarfile.TarError, EOFError, zlib.error, zstandard.ZstdError, gzip.BadGzipFile) as exc:
            raise InvalidArgument(f"can't load archive: corrupt archive: {exc}") from exc
    return found


def _read_member(store: ImageStore, tar: tarfile.TarFile, member: tarfile.TarInfo, found: _Unpacked) -> None:
    name = posixpath.normpath(member.name)
    if member.issym() or member.islnk():
        base = posixpath.dirname(name) if member.issym() else ""
        found.links[name] = posixpath.normpath(posixpath.join(base, member.linkname))
        return
    if not member.isreg():
        return
    source = tar.extractfile(member)
    if source is None:
        return
    with source:
        if name in METADATA_FILES:
            if member.size > METADATA_MAX:
                raise InvalidArgument(f"can't load archive: {name}: too large ({member.size} bytes)")
            found.metadata[name] = _parse_json(name, source.read())
        elif _is_blob_file(name):
            found.digests[name] = _ingest(store, source, name, member.size)


def _is_blob_file(name: str) -> bool:
    """Anything manifest.json may point at: blobs/*, <id>.json, <id>.tar, <id>/layer.tar...

    Only the legacy per-layer v1 metadata (<id>/json, <id>/VERSION) is skipped;
    files nothing references are left for garbage collection.
    """
    return posixpath.basename(name) not in ("json", "VERSION")


def _parse_json(name: str, data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise InvalidArgument(f"can't load archive: {name}: invalid JSON: {exc}") from exc


def _ingest(store: ImageStore, source: IO[bytes], name: str, size: int) -> str:
    expected = None
    if name.startswith("blobs/"):
        algorithm_hex = name[len("blobs/"):].replace("/", ":", 1)
        if not DIGEST_RE.match(algorithm_hex):
            raise InvalidArgument(f"can't load archive: {name}: not a sha256 blob path")
        expected = algorithm_hex
        if store.has_blob(expected):
            return expected
    with store.ingest(expected, size) as writer:
        for chunk in iter(lambda: source.read(BUFSIZE), b""):
            writer.write(chunk)
        return writer.commit()


def _load_docker_entries(store: ImageStore, found: _Unpacked) -> List[LoadedImage]:
    entries = found.metadata["manifest.json"]
    if not isinstance(entries, list):
        raise InvalidArgument("can't load archive: manifest.json: expected a list")
    originals = _manifests_by_config(store, found)
    images = []
    for index, entry in enumerate(entries):
        config, layers, repo_tags = _docker_entry(entry, index)
        config_digest = found.digest_of(config)
        layer_digests = [found.digest_of(path) for path in layers]
        tags = [_full_tag(tag) for tag in repo_tags]
        images.append(_record_image(store, config_digest, layer_digests, tags, originals))
    return images


def _docker_entry(entry: Any, index: int) -> Tuple[str, List[str], List[str]]:
    """Config, Layers and RepoTags of one manifest.json entry: an archive is input, a bad one a 400."""
    where = f"can't load archive: manifest.json[{index}]"
    if not isinstance(entry, dict):
        raise InvalidArgument(f"{where}: expected an object")
    config = entry.get("Config")
    if not isinstance(config, str) or not config:
        raise InvalidArgument(f"{where}.Config: expected a file name, got {config!r:.64}")
    lists: List[List[str]] = []
    for key in ("Layers", "RepoTags"):
        value = entry.get(key) or []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise InvalidArgument(f"{where}.{key}: expected an array of strings")
        lists.append(value)
    return config, lists[0], lists[1]


def _full_tag(tag: str) -> str:
    return str(parse_reference(tag))


def _manifests_by_config(store: ImageStore, found: _Unpacked) -> Dict[str, Tuple[str, str]]:
    """config digest -> (manifest digest, media type) for the manifests index.json names."""
    result: Dict[str, Tuple[str, str]] = {}
    index_doc = found.metadata.get("index.json")
    if not isinstance(index_doc, dict):
        return result
    for descriptor in Index.from_json(index_doc).manifests:
        resolved = _resolve_manifest(store, descriptor.digest, descriptor.media_type)
        if resolved is not None:
            manifest, digest, media_type = resolved
            result[manifest.config.digest] = (digest, media_type)
    return result


def _resolve_manifest(store: ImageStore, digest: str, media_type: str) -> Optional[Tuple[Manifest, str, str]]:
    """The image manifest a layout entry means (an index: the host platform's entry)."""
    for _ in range(4):
        if not store.has_blob(digest):
            return None
        parsed = types.parse_manifest_bytes(store.read_blob(digest), media_type)
        if isinstance(parsed, Manifest):
            return parsed, digest, types.manifest_media_type(parsed, media_type)
        host = types.host_platform()
        try:
            chosen = types.select_platform(parsed, host.os, host.architecture)
        except NotFound:
            return None
        digest, media_type = chosen.digest, chosen.media_type
    return None


def _record_image(store: ImageStore, config_digest: str, layer_digests: List[str], tags: List[str],
                  originals: Dict[str, Tuple[str, str]]) -> LoadedImage:
    config = store.load_config(config_digest)
    if len(config.diff_ids) != len(layer_digests):
        raise InvalidArgument(
            f"can't load image {config_digest}: {len(layer_digests)} layers but "
            f"{len(config.diff_ids)} diff_ids in its config"
        )
    existing = _tag_existing(store, config_digest, tags)
    if existing is not None:
        return existing
    layer_records = [_layer_record(store, digest, diff_id) for digest, diff_id in zip(layer_digests, config.diff_ids)]
    original = originals.get(config_digest)
    if original is not None and _manifest_layers(store, original[0]) == layer_digests:
        manifest_digest, media_type = original
    else:
        manifest_digest, media_type = put_manifest(store, config_digest, layer_records), types.MT_OCI_MANIFEST
    record = store.add_image(manifest_digest, media_type, config_digest, layer_records,
                             repo_tag=tags[0] if tags else None)
    for tag in tags[1:]:
        record = store.tag(record.image_id, tag)
    return LoadedImage(record, tags)


def _tag_existing(store: ImageStore, config_digest: str, tags: List[str]) -> Optional[LoadedImage]:
    """Tag the stored image with this config, if there is one whose blobs are all present."""
    try:
        record = store.get(config_digest)
    except NotFound:
        return None
    needed = [record.manifest_digest] + [layer.digest for layer in record.layers]
    if not all(store.has_blob(digest) for digest in needed):
        return None  # a damaged record: the archive's blobs replace it
    for tag in tags:
        record = store.tag(record.image_id, tag)
    logger.info("image %s is in the store already: only tagged %s", config_digest, tags)
    return LoadedImage(record, list(tags))


def _manifest_layers(store: ImageStore, manifest_digest: str) -> List[str]:
    parsed = types.parse_manifest_bytes(store.read_blob(manifest_digest))
    return [layer.digest for layer in parsed.layers] if isinstance(parsed, Manifest) else []


def _layer_record(store: ImageStore, digest: str, diff_id: str) -> LayerRecord:
    with store.open_blob(digest) as blob:
        compression = layer_tar.detect_compression(blob.read(4))
    if compression == "none" and digest != diff_id:
        raise InvalidArgument(f"can't load layer {digest}: it is an uncompressed tar but its diff id is {diff_id}")
    return LayerRecord(digest, LAYER_TYPE_BY_COMPRESSION[compression], store.blob_size(digest), diff_id)


def _load_oci_layout(store: ImageStore, found: _Unpacked) -> List[LoadedImage]:
    index = Index.from_json(found.metadata["index.json"])
    by_manifest: Dict[str, LoadedImage] = {}
    for descriptor in index.manifests:
        resolved = _resolve_manifest(store, descriptor.digest, descriptor.media_type)
        if resolved is None:
            raise InvalidArgument(f"can't load archive: no usable manifest for index entry {descriptor.digest}")
        manifest, digest, media_type = resolved
        tag = _layout_tag(descriptor.annotations or {})
        loaded = by_manifest.get(digest)
        if loaded is None:
            loaded = _tag_existing(store, manifest.config.digest, [tag] if tag else [])
            if loaded is not None:
                by_manifest[digest] = loaded
                continue
            layer_records = [_layer_record(store, layer.digest, diff_id) for layer, diff_id
                             in zip(manifest.layers, store.load_config(manifest.config.digest).diff_ids)]
            record = store.add_image(digest, media_type, manifest.config.digest, layer_records, repo_tag=tag)
            loaded = by_manifest[digest] = LoadedImage(record, [tag] if tag else [])
        elif tag:
            loaded.record = store.tag(loaded.record.image_id, tag)
            loaded.tags.append(tag)
    return list(by_manifest.values())


def _layout_tag(annotations: Dict[str, str]) -> Optional[str]:
    """The full-form tag of a layout entry: containerd's image name, else a full ref.name."""
    for key in (ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME):
        value = annotations.get(key)
        if value and ("/" in value or key == ANNOTATION_IMAGE_NAME):
            try:
                return _full_tag(value)
            except InvalidArgument:
                continue
    return None


# -- import ------------------------------------------------------------------------
def import_rootfs(
    store: ImageStore,
    stream: IO[bytes],
    repo_tag: Optional[str] = None,
    changes: Iterable[str] = (),
    message: str = "",
    platform: Optional[Platform] = None,
) -> ImageRecord:
    """Make a one-layer image of a rootfs tarball (plain, gzip or zstd), like `docker import`."""
    container_config = apply_changes(ContainerConfig(), changes)
    with store.lease():
        with store.ingest() as writer:
            for chunk in iter(lambda: stream.read(BUFSIZE), b""):
                writer.write(chunk)
            layer_digest = writer.commit()
        diff_id, compression = _uncompressed_digest(store, layer_digest)
        layer = LayerRecord(layer_digest, LAYER_TYPE_BY_COMPRESSION[compression],
                            store.blob_size(layer_digest), diff_id)
        history = [types.History(created_by="", comment=message or "Imported from -")]
        return new_image(store, None, [layer], container_config, history, repo_tag=repo_tag, platform=platform)


def _uncompressed_digest(store: ImageStore, digest: str) -> Tuple[str, str]:
    """(DiffID, compression) of a layer blob."""
    with store.open_blob(digest) as blob:
        compression = layer_tar.detect_compression(blob.read(4))
        if compression == "none":
            return digest, compression
        blob.seek(0)
        hasher = hashlib.sha256()
        try:
            with contextlib.ExitStack() as stack:
                reader = layer_tar.open_uncompressed(blob, stack)
                for chunk in iter(lambda: reader.read(BUFSIZE), b""):
                    hasher.update(chunk)
        except (EOFError, zlib.error, zstandard.ZstdError, gzip.BadGzipFile) as exc:
            raise InvalidArgument(f"can't import: corrupt {compression} stream: {exc}") from exc
    return "sha256:" + hasher.hexdigest(), compression


# -- changes (docker import --change / commit --change) -------------------------------------
CHANGE_INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "SHELL", "STOPSIGNAL",
                       "USER", "VOLUME", "WORKDIR")


def apply_changes(config: ContainerConfig, changes: Iterable[str]) -> ContainerConfig:
    """Apply Dockerfile-style instructions to a container config."""
    doc = config.to_json()
    for change in changes:
        keyword, _, rest = change.strip().partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword not in CHANGE_INSTRUCTIONS:
            raise InvalidArgument(f"can't apply change: {change!r}: unsupported instruction {keyword!r}",
                                  hint="supported: " + ", ".join(CHANGE_INSTRUCTIONS))
        _apply_change(doc, keyword, rest, change)
    return ContainerConfig.from_json(doc)


def _apply_change(doc: Dict[str, Any], keyword: str, rest: str, change: str) -> None:
    if keyword in ("CMD", "ENTRYPOINT", "SHELL"):
        key = {"CMD": "Cmd", "ENTRYPOINT": "Entrypoint", "SHELL": "Shell"}[keyword]
        doc[key] = _exec_form(rest, change) if rest.startswith("[") else ["/bin/sh", "-c", rest]
    elif keyword == "ENV":
        env = [e for e in doc.get("Env") or []]
        for name, value in _pairs(rest, change):
            env = [e for e in env if e.split("=", 1)[0] != name] + [f"{name}={value}"]
        doc["Env"] = env
    elif keyword == "LABEL":
        doc["Labels"] = {**(doc.get("Labels") or {}), **dict(_pairs(rest, change))}
    elif keyword == "EXPOSE":
        ports: Dict[str, Dict[str, Any]] = {p if "/" in p else f"{p}/tcp": {} for p in rest.split()}
        doc["ExposedPorts"] = {**(doc.get("ExposedPorts") or {}), **ports}
    elif keyword == "VOLUME":
        paths = _exec_form(rest, change) if rest.startswith("[") else rest.split()
        doc["Volumes"] = {**(doc.get("Volumes") or {}), **{p: {} for p in paths}}
    elif keyword == "ONBUILD":
        doc["OnBuild"] = (doc.get("OnBuild") or []) + [rest]
    else:
        doc[{"STOPSIGNAL": "StopSignal", "USER": "User", "WORKDIR": "WorkingDir"}[keyword]] = rest


def _exec_form(rest: str, change: str) -> List[str]:
    try:
        value = json.loads(rest)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"can't apply change: {change!r}: expected a JSON array of strings")
    return value


def _pairs(rest: str, change: str) -> List[Tuple[str, str]]:
    """KEY=VALUE words (shell quoting), or the legacy `KEY VALUE` form."""
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise InvalidArgument(f"can't apply change: {change!r}: {exc}") from exc
    if words and "=" not in words[0]:
        name, _, value = rest.partition(" ")
        return [(name, value.strip())]
    pairs = []
    for word in words:
        name, sep, value = word.partition("=")
        if not sep or not name:
            raise InvalidArgument(f"can't apply change: {change!r}: expected KEY=VALUE, got {word!r}")
        pairs.append((name, value))
    return pairs
