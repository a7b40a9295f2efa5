"""The build cache: one durable entry per build step, keyed by what decides its result.

A step's key (:func:`step_key`) hashes the parent image id, the step as its
history says it (``created_by``: instruction after substitution, COPY/ADD
sources as a content hash, RUN's build args in use) and the instruction's
other fields (RUN mounts and network). Never a path of the context or an
mtime, so touching a file or moving the context directory keeps every hit.

An entry stores the step's whole image config (so a rebuild from hits gives
byte-identical configs, hence the same image id) and its layer records. Layer
blobs are hard-linked into ``blobs/``: the image store's garbage collection
may delete its copy (a build's intermediate layers belong to no image) and a
hit puts it back from the link. Writes are atomic (util/fs.atomic_write);
pruning renames the whole cache into a trash dir first (util/trash.py), so a
crash leaves either the old cache or none, and :meth:`BuildCache.recover`
empties the trash.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set

from rootless.images.crashpoint import crash_point
from rootless.images.store import ImageStore, LayerRecord
from rootless.util import fs
from rootless.util.trash import Trash

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1


def step_key(parent_id: str, created_by: str, extra: Optional[Mapping[str, Any]] = None,
             platform: str = "") -> str:
    """The cache key of one step: sha256 of its parent, its history text and other inputs."""
    material = json.dumps({"v": CACHE_FORMAT, "parent": parent_id, "step": created_by,
                           "extra": dict(extra or {}), "platform": platform}, sort_keys=True, default=str)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """What a step produced: its image config (exact bytes) and every layer of the image."""

    key: str
    config: bytes
    layers: Sequence[LayerRecord]

    @property
    def image_id(self) -> str:
        return "sha256:" + hashlib.sha256(self.config).hexdigest()

    def to_json(self) -> Dict[str, Any]:
        return {"format": CACHE_FORMAT, "key": self.key, "config": self.config.decode("utf-8"),
                "layers": [layer.to_json() for layer in self.layers]}


class BuildCache:
    """Entries under ``Paths.build_cache``/entries, layer blob links under /blobs."""

    def __init__(self, root: str, store: ImageStore) -> None:
        self.root = root
        self.store = store
        self.entries = os.path.join(root, "entries")
        self.blobs = os.path.join(root, "blobs")
        # A sibling, not inside root: the whole cache goes in one rename. An older version's
        # trash here is the cache tree itself; emptying it deletes its entries/ and blobs/.
        self.trash = Trash(root + ".trash")

    def _entry_path(self, key: str) -> str:
        return os.path.join(self.entries, key[:2], key + ".json")

    def get(self, key: str) -> Optional[CacheEntry]:
        """The entry for key if it and every layer blob it needs are still available."""
        data = fs.read_json(self._entry_path(key))
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
            return None
        try:
            entry = CacheEntry(key, str(data["config"]).encode("utf-8"),
                               [LayerRecord.from_json(layer) for layer in data["layers"]])
        except (KeyError, TypeError, ValueError):
            logger.warning("build cache: ignoring a malformed entry %s", key)
            return None
        if not all(self.restore_blob(layer.digest) for layer in entry.layers):
            return None
        os.utime(self._entry_path(key))  # last use, for a future LRU prune
        return entry

    def put(self, entry: CacheEntry, new_layers: Sequence[LayerRecord] = ()) -> None:
        """Record a step's result; new_layers' blobs are linked so the cache outlives a GC."""
        for layer in new_layers:
            self._keep_blob(layer.digest)
        path = self._entry_path(entry.key)
        fs.ensure_dir(os.path.dirname(path))
        fs.atomic_write_json(path, entry.to_json(), 0o600)

    def _blob_link(self, digest: str) -> str:
        return os.path.join(self.blobs, digest.replace(":", "-"))

    def _keep_blob(self, digest: str) -> None:
        link = self._blob_link(digest)
        if os.path.exists(link):
            return
        fs.ensure_dir(self.blobs)
        tmp = f"{link}.{os.getpid()}.tmp"
        try:
            os.link(self.store.blob_path(digest), tmp)
        except OSError:  # another filesystem, or hard links refused: keep a copy
            shutil.copyfile(self.store.blob_path(digest), tmp)
        os.replace(tmp, link)
        fs.fsync_dir(self.blobs)

    def restore_blob(self, digest: str) -> bool:
        """Whether the store has the blob, ingesting it again from the cache's link if it was collected."""
        if self.store.has_blob(digest):
            return True
        link = self._blob_link(digest)
        try:
            with open(link, "rb") as source, self.store.ingest(expected_digest=digest) as writer:
                for chunk in iter(lambda: source.read(1 << 20), b""):
                    writer.write(chunk)
                writer.commit()
        except FileNotFoundError:
            return False
        except Exception as exc:  # a damaged link: a miss, never a failed build
            logger.warning("build cache: can't restore blob %s: %s", digest, exc)
            return False
        return True

    def mount_dir(self, cache_id: str, uid: int, gid: int, mode: int) -> str:
        """The persistent directory of RUN --mount=type=cache,id=... (made on first use)."""
        name = hashlib.sha256(cache_id.encode("utf-8")).hexdigest()[:32]
        path = os.path.join(self.root, "mounts", name)
        if not os.path.isdir(path):
            fs.ensure_dir(os.path.dirname(path))
            tmp = f"{path}.{os.getpid()}.tmp"
            os.makedirs(tmp, exist_ok=True)
            os.chown(tmp, uid, gid)
            os.chmod(tmp, mode)
            try:
                os.rename(tmp, path)
            except OSError:  # made meanwhile by another build
                fs.remove_tree(tmp)
        return path

    def usage(self) -> List[Dict[str, Any]]:
        """docker's BuildCache records for /system/df: one per entry."""
        records: List[Dict[str, Any]] = []
        for path in self._entry_paths():
            info = os.stat(path)
            records.append({"ID": os.path.basename(path)[:-5][:25], "Type": "regular", "Description": "",
                            "InUse": False, "Shared": False, "Size": info.st_size,
                            "CreatedAt": _rfc3339(info.st_ctime), "LastUsedAt": _rfc3339(info.st_mtime),
                            "UsageCount": 1, "Parent": "", "Parents": None})
        if records:
            records[0]["Size"] += fs.dir_size(self.blobs) if os.path.isdir(self.blobs) else 0
        return records

    def _entry_paths(self) -> List[str]:
        out: List[str] = []
        if not os.path.isdir(self.entries):
            return out
        for sub in sorted(os.listdir(self.entries)):
            directory = os.path.join(self.entries, sub)
            out += [os.path.join(directory, n) for n in sorted(os.listdir(directory)) if n.endswith(".json")]
        return out

    def prune(self) -> Dict[str, Any]:
        """Drop every entry and blob link (docker builder prune -a); returns docker's answer."""
        ids = [os.path.basename(p)[:-5] for p in self._entry_paths()]
        size = fs.dir_size(self.root) if os.path.isdir(self.root) else 0
        if self.trash.discard_durably(self.root):  # one step: the cache is whole or gone
            crash_point("build-cache-prune:after-trash")
            self.recover()
        return {"CachesDeleted": ids or None, "SpaceReclaimed": size}

    def prune_some(self, wanted: Callable[[str, float], bool], keep_bytes: int = 0) -> Dict[str, Any]:
        """Drop the entries wanted(id, last_used) picks, least recently used first, until at most
        keep_bytes remain (0: all of them); then the blob links no remaining entry needs.

        Each entry goes with one unlink, so a crash leaves whole entries; a link left over
        is collected by the next prune.
        """
        dropped: List[str] = []
        reclaimed = 0
        total = self.size()
        by_age = sorted(self._entry_paths(), key=lambda p: os.stat(p).st_mtime)
        for path in by_age:
            if keep_bytes and total <= keep_bytes:
                break
            entry_id = os.path.basename(path)[:-5]
            if not wanted(entry_id, os.stat(path).st_mtime):
                continue
            size = os.stat(path).st_size
            os.unlink(path)
            dropped.append(entry_id)
            reclaimed, total = reclaimed + size, total - size
        freed = self._drop_unneeded_blobs()
        return {"CachesDeleted": dropped or None, "SpaceReclaimed": reclaimed + freed}

    def size(self) -> int:
        return fs.dir_size(self.root) if os.path.isdir(self.root) else 0

    def _drop_unneeded_blobs(self) -> int:
        """Remove blob links no entry names; their bytes when this was the last link."""
        needed: Set[str] = set()
        for path in self._entry_paths():
            data = fs.read_json(path)
            layers = data.get("layers") if isinstance(data, dict) else None
            needed.update(str(layer.get("digest", "")).replace(":", "-") for layer in layers or []
                          if isinstance(layer, dict))
        freed = 0
        names = os.listdir(self.blobs) if os.path.isdir(self.blobs) else []
        for name in names:
            if name in needed or name.endswith(".tmp"):
                continue  # .tmp: a build linking it right now
            info = os.stat(os.path.join(self.blobs, name))
            os.unlink(os.path.join(self.blobs, name))
            freed += info.st_size if info.st_nlink == 1 else 0
        return freed

    def recover(self) -> None:
        """Finish a prune a killed daemon left (the trash dir)."""
        self.trash.empty_now()


def _rfc3339(when: float) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
