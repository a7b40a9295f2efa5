"""The shared read-only image cache (issue 15): `additional_image_stores`, podman's name.

A site directory (say /site/images) where an admin keeps images exported
with `rootless image export --format squashfs` as `*.sqfs` files. Every user
runs them without copying: the daemon mounts the file with squashfuse as the
container's lower dir (runtime/storage/squashfs.py), nothing of the image
enters the user's store, and a user's own pull still goes there.

Another local user is hostile: a directory or file they could write would
let them change what every user runs. The owners are checked *outside* the
namespace, when the daemon starts (inside it root and every other user look
the same, the overflow uid): the directory, each of its parents and each
file must be owned by root or the user and not writable by others (parents
may be sticky, like /tmp). What was approved is pinned by (device, inode,
ctime, size): a file that changes or appears later is used after the next
daemon start, never before it is checked.
"""
from __future__ import annotations

import json
import logging
import os
import re
import stat
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from rootless.errors import InvalidArgument, RootlessError
from rootless.images.store import ImageRecord, LayerRecord
from rootless.images.types import ImageConfig
from rootless.util import proc

logger = logging.getLogger(__name__)

SUFFIXES = (".sqfs", ".squashfs")
FORMAT_VERSION = 1
META_FILE = "image.json"  # at the squashfs root, beside rootfs/ (runtime/storage/squashfs.py)
MAX_META = 16 << 20
Identity = Tuple[int, int, int, int]  # st_dev, st_ino, st_ctime_ns, st_size
_ID_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_PREFIX_RE = re.compile(r"^(?:sha256:)?([0-9a-f]{4,64})$")


def identity_of(info: os.stat_result) -> Identity:
    return (info.st_dev, info.st_ino, info.st_ctime_ns, info.st_size)


@dataclass(frozen=True)
class SiteFile:
    """An image file approved at daemon start."""

    path: str
    identity: Identity

    def to_json(self) -> List[Any]:
        return [self.path, *self.identity]

    @classmethod
    def from_json(cls, data: Sequence[Any]) -> "SiteFile":
        return cls(str(data[0]), (int(data[1]), int(data[2]), int(data[3]), int(data[4])))


@dataclass(frozen=True)
class SiteImageRecord(ImageRecord):
    """An image of a site store: read-only, its rootfs in one squashfs file."""

    squashfs: str = ""
    identity: Identity = (0, 0, 0, 0)


def is_site_image(record: ImageRecord) -> bool:
    return isinstance(record, SiteImageRecord)


# -- approval, outside the namespace -----------------------------------------------------------


def _unsafe(info: os.stat_result, euid: int, sticky_ok: bool) -> Optional[str]:
    """Why other users could change this entry's contents, or None."""
    if info.st_uid not in (0, euid):
        return f"owned by uid {info.st_uid} (must be root's or yours)"
    writable = stat.S_IMODE(info.st_mode) & 0o022
    if writable and not (sticky_ok and info.st_mode & stat.S_ISVTX):
        return f"mode {stat.S_IMODE(info.st_mode):04o} lets other users write it"
    return None


def check_dir(path: str, euid: int) -> Optional[str]:
    """None when only root or the user can change path's entries (path and every parent checked)."""
    if not os.path.isabs(path):
        return "not an absolute path"
    real = os.path.realpath(path)
    parts = real.split("/")
    for depth in range(1, len(parts) + 1):
        current = "/".join(parts[:depth]) or "/"
        try:
            info = os.lstat(current)
        except OSError as exc:
            return f"{current}: {exc.strerror}"
        if not stat.S_ISDIR(info.st_mode):
            return f"{current}: not a directory"
        reason = _unsafe(info, euid, sticky_ok=current != real)
        if reason:
            return f"{current}: {reason}"
    return None


def check_file(path: str, euid: int) -> Tuple[Optional[SiteFile], Optional[str]]:
    """The file pinned when it is safe, else why not."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        return None, exc.strerror or "can't stat"
    if not stat.S_ISREG(info.st_mode):
        return None, "not a regular file"
    reason = _unsafe(info, euid, sticky_ok=False)
    return (None, reason) if reason else (SiteFile(path, identity_of(info)), None)


def approve_stores(dirs: Sequence[str], euid: Optional[int] = None) -> Tuple[List[SiteFile], List[str]]:
    """Outside the namespace: the image files of safe site dirs, and a warning per refusal."""
    euid = os.geteuid() if euid is None else euid
    files: List[SiteFile] = []
    warnings: List[str] = []
    for directory in dirs:
        reason = check_dir(directory, euid)
        if reason:
            warnings.append(f"additional image store {directory} refused: {reason}")
            continue
        for name in sorted(os.listdir(directory)):
            if not name.endswith(SUFFIXES):
                continue
            site_file, why = check_file(os.path.join(directory, name), euid)
            if site_file is None:
                warnings.append(f"additional image store {directory}: {name} refused: {why}")
            else:
                files.append(site_file)
    return files, warnings


# -- the image.json inside the file ------------------------------------------------------------


def image_meta(record: ImageRecord) -> bytes:
    """image.json of an exported image: enough to list, inspect and run it without the user's store."""
    body = {
        "rootlessSquashfs": FORMAT_VERSION, "imageId": record.image_id,
        "repoTags": list(record.repo_tags), "repoDigests": list(record.repo_digests),
        "manifestDigest": record.manifest_digest, "manifestMediaType": record.manifest_media_type,
        "layers": [layer.to_json() for layer in record.layers], "added": record.added,
        "config": record.config.to_json(),
    }
    return json.dumps(body, indent=1, sort_keys=True).encode()


def _strings(body: Dict[str, Any], key: str) -> List[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{key}: must be a list of strings")
    return list(value)


def record_from_meta(data: bytes, site_file: SiteFile) -> SiteImageRecord:
    """Parse image.json; raises InvalidArgument naming what is wrong."""
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise InvalidArgument(f"{META_FILE}: not JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("rootlessSquashfs") != FORMAT_VERSION:
        raise InvalidArgument(f"{META_FILE}: not a rootless squashfs image of format {FORMAT_VERSION}")
    image_id = body.get("imageId")
    if not isinstance(image_id, str) or not _ID_RE.match(image_id):
        raise InvalidArgument(f"{META_FILE}: imageId: not a sha256 digest")
    try:
        layers = [LayerRecord.from_json(layer) for layer in body.get("layers", [])]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidArgument(f"{META_FILE}: layers: {exc}") from None
    return SiteImageRecord(
        image_id, str(body.get("manifestDigest", "")), str(body.get("manifestMediaType", "")),
        ImageConfig.from_json(body.get("config")), layers, _strings(body, "repoTags"),
        _strings(body, "repoDigests"), size=site_file.identity[3], added=str(body.get("added", "")),
        squashfs=site_file.path, identity=site_file.identity)


def read_meta_unsquashfs(path: str) -> bytes:
    """image.json from the file without mounting it."""
    out = proc.run(["unsquashfs", "-cat", path, META_FILE], tool="unsquashfs", timeout=60).stdout
    if len(out) > MAX_META:
        raise InvalidArgument(f"{META_FILE}: larger than {MAX_META} bytes")
    return out


class SiteStore:
    """The approved site images, read-only; image.json read once per file version."""

    def __init__(self, files: Sequence[SiteFile], read_meta: Callable[[str], bytes] = read_meta_unsquashfs) -> None:
        self.files = list(files)
        self.read_meta = read_meta
        self._cache: Dict[Tuple[str, Identity], Optional[SiteImageRecord]] = {}

    def list(self) -> List[SiteImageRecord]:
        """Every approved image whose file is still the one approved, newest first."""
        records = [r for r in (self._load(f) for f in self.files) if r is not None]
        return sorted(records, key=lambda r: (r.created, r.image_id), reverse=True)

    def find(self, name: str) -> Optional[SiteImageRecord]:
        """By full-form tag or repo digest, then by image id or a unique id prefix."""
        records = self.list()
        for record in records:
            if name in record.repo_tags or name in record.repo_digests:
                return record
        match = _PREFIX_RE.match(name)
        if not match:
            return None
        found = {r.image_id: r for r in records if r.image_id.startswith("sha256:" + match.group(1))}
        return next(iter(found.values())) if len(found) == 1 else None

    def _load(self, site_file: SiteFile) -> Optional[SiteImageRecord]:
        try:
            now = identity_of(os.stat(site_file.path))
        except OSError:
            return None
        if now != site_file.identity:
            logger.warning("additional image store: %s changed since the daemon started: "
                           "used again after the next start (its owner and mode are checked then)",
                           site_file.path)
            return None
        key = (site_file.path, site_file.identity)
        if key not in self._cache:
            self._cache[key] = self._parse(site_file)
        return self._cache[key]

    def _parse(self, site_file: SiteFile) -> Optional[SiteImageRecord]:
        try:
            return record_from_meta(self.read_meta(site_file.path), site_file)
        except RootlessError as exc:
            logger.warning("additional image store: %s skipped: %s", site_file.path, exc.message)
            return None
