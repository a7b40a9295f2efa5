"""OCI and Docker schema2 image objects: media types and frozen dataclasses.

Field names follow the specs (https://github.com/opencontainers/image-spec,
Docker "Image Manifest V2, Schema 2"). Every object keeps the JSON keys it does
not know in `extra`, so a document read and written again loses nothing.
"""
from __future__ import annotations

import hashlib
import json
import platform as _platform
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, TypeVar, Union

from rootless.errors import InvalidArgument, NotFound
from rootless.util.digest import DIGEST_RE

# -- media types (Charliecloud registry.py keeps them in one place too) ------
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
MT_DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
MT_DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MT_OCI_LAYER_ND = "application/vnd.oci.image.layer.nondistributable.v1.tar"
MT_OCI_LAYER_ND_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
MT_OCI_LAYER_ND_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
MT_OCI_EMPTY = "application/vnd.oci.empty.v1+json"

MANIFEST_TYPES = (MT_DOCKER_MANIFEST, MT_OCI_MANIFEST)
INDEX_TYPES = (MT_DOCKER_MANIFEST_LIST, MT_OCI_INDEX)
SCHEMA1_TYPES = (MT_DOCKER_SCHEMA1, MT_DOCKER_SCHEMA1_SIGNED)
CONFIG_TYPES = (MT_DOCKER_CONFIG, MT_OCI_CONFIG)
LAYER_TYPES = (
    MT_DOCKER_LAYER, MT_DOCKER_LAYER_FOREIGN, MT_OCI_LAYER, MT_OCI_LAYER_GZIP, MT_OCI_LAYER_ZSTD,
    MT_OCI_LAYER_ND, MT_OCI_LAYER_ND_GZIP, MT_OCI_LAYER_ND_ZSTD,
)
# What a registry client sends in Accept: every manifest and index kind we read.
ACCEPT_MANIFESTS = (MT_OCI_INDEX, MT_DOCKER_MANIFEST_LIST, MT_OCI_MANIFEST, MT_DOCKER_MANIFEST)

# Go's GOARCH names, as image configs and indexes spell architectures.
GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm",
           "i686": "386", "i386": "386", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
# The variant an index entry without one means (containerd platforms.Normalize).
DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}

T = TypeVar("T", bound="JsonObject")


Codec = Tuple[Callable[[Any], Any], Callable[[Any], Any]]


def jfield(key: str, default: Any = None, *, codec: Optional[Codec] = None,
           factory: Optional[Callable[[], Any]] = None) -> Any:
    """A dataclass field stored under JSON key `key`, with an optional (decode, encode) codec.

    None values are omitted on output.
    """
    decode, encode = codec if codec is not None else (None, None)
    meta = {"json": key, "decode": decode, "encode": encode}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


class JsonObject:
    """Mixin: from_json/to_json driven by jfield metadata, unknown keys kept in `extra`."""

    extra: Dict[str, Any]

    @classmethod
    def from_json(cls: Type[T], data: Any) -> T:
        if not isinstance(data, dict):
            raise InvalidArgument(f"invalid {cls.__name__}: expected a JSON object, got {type(data).__name__}")
        kwargs: Dict[str, Any] = {}
        known = set()
        for f in fields(cls):  # type: ignore[arg-type]
            key = f.metadata.get("json")
            if key is None:
                continue
            known.add(key)
            value = data.get(key)
            if value is not None:
                decode = f.metadata.get("decode")
                kwargs[f.name] = decode(value) if decode else value
        kwargs["extra"] = {k: v for k, v in data.items() if k not in known}
        try:
            return cls(**kwargs)
        except (TypeError, ValueError, AttributeError) as exc:
            raise InvalidArgument(f"invalid {cls.__name__}: {exc}") from exc

    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            key = f.metadata.get("json")
            value = getattr(self, f.name)
            if key is None or value is None:
                continue
            encode = f.metadata.get("encode")
            out[key] = encode(value) if encode else value
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    def to_bytes(self) -> bytes:
        """Canonical-enough JSON bytes to store as a blob (compact, key order kept)."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode()


def _list_of(cls: Any) -> Codec:
    """decode/encode pair for a JSON list of objects."""
    def decode(values: Any) -> List[Any]:
        if not isinstance(values, list):
            raise InvalidArgument(f"invalid {cls.__name__} list: expected a JSON array")
        return [cls.from_json(v) for v in values]
    return decode, lambda items: [i.to_json() for i in items]


def _obj(cls: Any) -> Codec:
    return cls.from_json, lambda obj: obj.to_json()


@dataclass(frozen=True)
class Platform(JsonObject):
    """An index entry's platform."""

    os: str = jfield("os", "")
    architecture: str = jfield("architecture", "")
    variant: Optional[str] = jfield("variant")
    os_version: Optional[str] = jfield("os.version")
    os_features: Optional[List[str]] = jfield("os.features")
    features: Optional[List[str]] = jfield("features")
    extra: Dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [self.os, self.architecture] + ([self.variant] if self.variant else [])
        return "/".join(parts)


_PLATFORM = _obj(Platform)


@dataclass(frozen=True)
class Descriptor(JsonObject):
    """A reference to a blob: media type, digest, size (OCI descriptor.md)."""

    media_type: str = jfield("mediaType", "")
    digest: str = jfield("digest", "")
    size: int = jfield("size", 0)
    platform: Optional[Platform] = jfield("platform", codec=_PLATFORM)
    annotations: Optional[Dict[str, str]] = jfield("annotations")
    urls: Optional[List[str]] = jfield("urls")
    artifact_type: Optional[str] = jfield("artifactType")
    extra: Dict[str, Any] = field(default_factory=dict)


_DESCRIPTOR = _obj(Descriptor)
_DESCRIPTORS = _list_of(Descriptor)


@dataclass(frozen=True)
class _TopLevel(JsonObject):
    """Fields a manifest and an index share (image-spec manifest.md, image-index.md)."""

    schema_version: int = jfield("schemaVersion", 2)
    media_type: Optional[str] = jfield("mediaType")
    subject: Optional[Descriptor] = jfield("subject", codec=_DESCRIPTOR)
    artifact_type: Optional[str] = jfield("artifactType")
    annotations: Optional[Dict[str, str]] = jfield("annotations")
    extra: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest(_TopLevel):
    """An image manifest (OCI manifest.md or Docker schema2)."""

    config: Descriptor = jfield("config", codec=_DESCRIPTOR, factory=Descriptor)
    layers: List[Descriptor] = jfield("layers", codec=_DESCRIPTORS, factory=list)


@dataclass(frozen=True)
class Index(_TopLevel):
    """An image index / Docker manifest list (OCI image-index.md)."""

    manifests: List[Descriptor] = jfield("manifests", codec=_DESCRIPTORS, factory=list)


@dataclass(frozen=True)
class ContainerConfig(JsonObject):
    """The `config` member of an image config: how to run the image."""

    user: Optional[str] = jfield("User")
    env: Optional[List[str]] = jfield("Env")
    cmd: Optional[List[str]] = jfield("Cmd")
    entrypoint: Optional[List[str]] = jfield("Entrypoint")
    working_dir: Optional[str] = jfield("WorkingDir")
    labels: Optional[Dict[str, str]] = jfield("Labels")
    exposed_ports: Optional[Dict[str, Any]] = jfield("ExposedPorts")
    volumes: Optional[Dict[str, Any]] = jfield("Volumes")
    stop_signal: Optional[str] = jfield("StopSignal")
    healthcheck: Optional[Dict[str, Any]] = jfield("Healthcheck")
    on_build: Optional[List[str]] = jfield("OnBuild")
    shell: Optional[List[str]] = jfield("Shell")
    args_escaped: Optional[bool] = jfield("ArgsEscaped")
    extra: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RootFS(JsonObject):
    """rootfs: the uncompressed layer digests, lowest first."""

    type: str = jfield("type", "layers")
    diff_ids: List[str] = jfield("diff_ids", factory=list)
    extra: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class History(JsonObject):
    """One history entry of an image config."""

    created: Optional[str] = jfield("created")
    created_by: Optional[str] = jfield("created_by")
    author: Optional[str] = jfield("author")
    comment: Optional[str] = jfield("comment")
    empty_layer: Optional[bool] = jfield("empty_layer")
    extra: Dict[str, Any] = field(default_factory=dict)


_CONTAINER_CONFIG = _obj(ContainerConfig)
_ROOTFS = _obj(RootFS)
_HISTORY = _list_of(History)


@dataclass(frozen=True)
class ImageConfig(JsonObject):
    """The image configuration blob (OCI config.md; Docker's image JSON)."""

    architecture: str = jfield("architecture", "")
    os: str = jfield("os", "")
    variant: Optional[str] = jfield("variant")
    os_version: Optional[str] = jfield("os.version")
    created: Optional[str] = jfield("created")
    author: Optional[str] = jfield("author")
    config: ContainerConfig = jfield("config", codec=_CONTAINER_CONFIG, factory=ContainerConfig)
    rootfs: RootFS = jfield("rootfs", codec=_ROOTFS, factory=RootFS)
    history: Optional[List[History]] = jfield("history", codec=_HISTORY)
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def diff_ids(self) -> List[str]:
        return list(self.rootfs.diff_ids)

    @property
    def platform(self) -> Platform:
        return Platform(os=self.os, architecture=self.architecture, variant=self.variant)


def chain_ids(diff_ids: List[str]) -> List[str]:
    """ChainIDs of a layer stack (image-spec config.md "Layer ChainID"), lowest first.

    ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).
    """
    result: List[str] = []
    for diff_id in diff_ids:
        if result:
            text = f"{result[-1]} {diff_id}".encode()
            result.append("sha256:" + hashlib.sha256(text).hexdigest())
        else:
            result.append(diff_id)
    return result


def media_type_base(content_type: Optional[str]) -> str:
    """A Content-Type header without parameters ("a/b; charset=x" -> "a/b")."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _refuse_schema1(media_type: str, doc: Dict[str, Any], what: str) -> None:
    if media_type in SCHEMA1_TYPES or doc.get("schemaVersion") == 1:
        raise InvalidArgument(
            f"can't use manifest{what}: Docker schema 1 is not supported",
            hint="push the image again with a current docker or use an OCI/schema2 image",
        )


def parse_manifest_bytes(data: bytes, content_type: Optional[str] = None,
                         name: str = "") -> Union[Manifest, Index]:
    """Parse a manifest or index, taking its kind from mediaType, else Content-Type, else its shape.

    name (a reference) goes into the errors, which say what is wrong in one line.
    """
    what = f": {name}" if name else ""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"can't parse manifest{what}: invalid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidArgument(f"can't parse manifest{what}: not a JSON object")
    media_type = doc.get("mediaType") or media_type_base(content_type)
    _refuse_schema1(media_type, doc, what)
    try:
        if media_type in INDEX_TYPES or (media_type not in MANIFEST_TYPES and "manifests" in doc):
            index: Index = Index.from_json(doc)
            _check_descriptors(index.manifests, "manifests")
            return index
        if media_type in MANIFEST_TYPES or "config" in doc:
            manifest: Manifest = Manifest.from_json(doc)
            _check_descriptors([manifest.config], "config")
            _check_descriptors(manifest.layers, "layers")
            return manifest
    except InvalidArgument as exc:
        raise InvalidArgument(f"can't parse manifest{what}: {exc.message}") from exc
    raise InvalidArgument(f"can't parse manifest{what}: unknown media type {media_type or '(none)'!r}")


def _check_descriptors(descriptors: List[Descriptor], member: str) -> None:
    """Every descriptor names a sha256 blob and a size (descriptor.md: both are REQUIRED)."""
    for position, desc in enumerate(descriptors):
        where = member if member == "config" else f"{member}[{position}]"
        if not isinstance(desc.digest, str) or not DIGEST_RE.match(desc.digest):
            raise InvalidArgument(f"{where}: invalid digest {desc.digest!r}")
        if isinstance(desc.size, bool) or not isinstance(desc.size, int) or desc.size < 0:
            raise InvalidArgument(f"{where}: invalid size {desc.size!r}")


def manifest_media_type(obj: Union[Manifest, Index], content_type: Optional[str] = None) -> str:
    """The media type to record for a parsed manifest or index."""
    if obj.media_type:
        return obj.media_type
    base = media_type_base(content_type)
    if base:
        return base
    return MT_OCI_INDEX if isinstance(obj, Index) else MT_OCI_MANIFEST


def host_platform() -> Platform:
    """This machine's platform in the spelling images use."""
    machine = _platform.machine()
    arch = GO_ARCH.get(machine, machine)
    return Platform(os="linux", architecture=arch, variant=DEFAULT_VARIANT.get(arch))


def normalize_platform(os_name: str, arch: str, variant: Optional[str]) -> Tuple[str, str, Optional[str]]:
    """Normalise arch aliases and default variants, as containerd's platforms.Normalize."""
    arch = GO_ARCH.get(arch, arch)
    if arch == "arm64" and variant == "8":
        variant = "v8"
    return os_name.lower(), arch, variant or DEFAULT_VARIANT.get(arch)


def platform_matches(candidate: Optional[Platform], os_name: str, arch: str, variant: Optional[str]) -> bool:
    """Whether an index entry's platform is the wanted one (variant compared only when wanted)."""
    if candidate is None:
        return False
    want = normalize_platform(os_name, arch, variant)
    have = normalize_platform(candidate.os, candidate.architecture, candidate.variant)
    if have[:2] != want[:2]:
        return False
    return variant is None or have[2] == want[2]


def select_platform(index: Index, os_name: str, arch: str, variant: Optional[str] = None) -> Descriptor:
    """The manifest of an index for a platform; an exact variant beats the default one."""
    matches = [d for d in index.manifests
               if d.media_type not in INDEX_TYPES and platform_matches(d.platform, os_name, arch, variant)]
    if matches:
        default_variant = normalize_platform(os_name, arch, None)[2]
        exact = [d for d in matches if d.platform is not None
                 and normalize_platform(d.platform.os, d.platform.architecture, d.platform.variant)[2]
                 == default_variant]
        return (exact or matches)[0]
    wanted = "/".join([os_name, arch] + ([variant] if variant else []))
    raise NotFound(f"no matching manifest for {wanted} in the manifest list entries")

