"""The layer directory store: where unpacked layers live, and how they go away crash-safely.

On-disk format (read by runtime/storage; keep it stable):

    Paths.layers/<chain-id hex>/diff/       the layer's files, overlayfs "upper" format (images/layer_tar.py)
    Paths.layers/<chain-id hex>/meta.json   {"chain_id", "diff_id", "digest", "size"}
    Paths.layers/<chain-id hex>.lock        flock held while that chain is unpacked
    Paths.layers/.tmp-*/                    an unpack in progress (renamed into place when done)
    Paths.layers/.trash/<chain hex>-<rand>/ a layer being deleted (renamed here first, then removed)
    Paths.layers/.trash/journal.json        what a garbage collection is deleting (images/store.py)

A layer is unpacked once per ChainID (image-spec config.md) and shared by every
image whose stack starts with the same layers. A directory without its
meta.json is never visible: the whole tree is built in `.tmp-*` and renamed
(images/layers.py). Deleting is the same in reverse: the layer dir is renamed
into `.trash/` (one atomic step, after which nobody sees the layer) and only
then removed, so a crash in the middle never leaves a half-deleted layer under
its chain id; the next daemon start empties the trash (util/trash.py).
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import time
from typing import Dict, List, Set

from rootless.config.paths import Paths
from rootless.config.settings import AUTO_RESERVE, StorageReserve
from rootless.images.crashpoint import crash_point
from rootless.util import fs
from rootless.util.fs import remove_tree
from rootless.util.digest import digest_hex
from rootless.util.trash import TRASH, Trash

TMP_PREFIX = ".tmp-"
JOURNAL = "journal.json"
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")

logger = logging.getLogger(__name__)


def layer_dir(paths: Paths, chain_id: str) -> str:
    return os.path.join(paths.layers, digest_hex(chain_id))


def diff_dir(paths: Paths, chain_id: str) -> str:
    return os.path.join(layer_dir(paths, chain_id), "diff")


def _meta_path(paths: Paths, chain_id: str) -> str:
    return os.path.join(layer_dir(paths, chain_id), "meta.json")


def is_unpacked(paths: Paths, chain_id: str) -> bool:
    return os.path.exists(_meta_path(paths, chain_id))


def trash_dir(paths: Paths) -> str:
    return os.path.join(paths.layers, TRASH)


def journal_path(paths: Paths) -> str:
    return os.path.join(trash_dir(paths), JOURNAL)


def _trash(paths: Paths) -> Trash:
    """The layers' trash: deleted in the caller's thread (under the GC lock); the journal is no garbage."""
    return Trash(trash_dir(paths), delete=_delete_trashed_layer, keep=(JOURNAL,))


def _delete_trashed_layer(path: str) -> None:
    remove_tree(os.path.join(path, "diff"))
    crash_point("gc:mid-trash-empty")  # a crash here leaves a half-removed entry: harmless
    remove_tree(path)


# The reserve each store's unpacks keep free, by layers dir. A registry rather than an
# argument: a pull builds StreamedUnpack with the store's Paths alone (engine/image_pull.py).
_RESERVES: Dict[str, StorageReserve] = {}


def set_reserve(paths: Paths, reserve: StorageReserve) -> None:
    """Settings.storage_reserve for every unpack into paths.layers (default: AUTO_RESERVE)."""
    _RESERVES[paths.layers] = reserve


def reserve_for(paths: Paths) -> StorageReserve:
    return _RESERVES.get(paths.layers, AUTO_RESERVE)


def unpacked_size(paths: Paths, chain_id: str) -> int:
    """Bytes of file data in an unpacked layer (0 when not unpacked)."""
    meta = fs.read_json(_meta_path(paths, chain_id), default={}) or {}
    return int(meta.get("size", 0))


def write_meta(tmp: str, chain_id: str, diff_id: str, layer_digest: str, size: int) -> None:
    """meta.json of an unpack built in tmp: written last, it makes the layer trusted once published."""
    meta = {"chain_id": chain_id, "diff_id": diff_id, "digest": layer_digest, "size": size}
    fs.atomic_write_json(os.path.join(tmp, "meta.json"), meta)


def publish(paths: Paths, tmp: str, chain_id: str) -> None:
    """Rename a finished unpack into place (the caller holds the chain's lock).

    A dir already there without meta.json is debris (a layer half-deleted by a
    version that removed layers in place): it goes to the trash first, or the
    rename would fail with ENOTEMPTY on every pull of the image.
    """
    target = layer_dir(paths, chain_id)
    try:
        os.rename(tmp, target)
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or is_unpacked(paths, chain_id):
            raise
    logger.warning("replacing the incomplete layer dir %s", target)
    trash = _trash(paths)
    moved = trash.discard(target)
    os.rename(tmp, target)
    if moved:
        trash.delete_now(moved)


def remove_unreferenced(paths: Paths, keep: Set[str], stale_seconds: float) -> int:
    """Delete unpacked layers whose chain id is not in keep, and stale temp dirs; returns bytes."""
    freed = trash_layers(paths, unreferenced(paths, keep))
    remove_stale_unpacks(paths, stale_seconds)
    empty_trash(paths)
    return freed


def unreferenced(paths: Paths, keep: Set[str]) -> List[str]:
    """Chain ids of the unpacked layers (and lock files) whose chain id is not in keep."""
    keep_hex = {digest_hex(c) for c in keep}
    found = {name.split(".", 1)[0] for name in os.listdir(paths.layers)}
    return sorted("sha256:" + h for h in found if _HEX64_RE.match(h) and h not in keep_hex)


def trash_layers(paths: Paths, chain_ids: List[str]) -> int:
    """Rename these layers into the trash (nobody sees them after that); returns their bytes.

    Their lock files go too. The trash is emptied by empty_trash().
    """
    freed, trash = 0, _trash(paths)
    for chain_id in chain_ids:
        freed += unpacked_size(paths, chain_id)
        if trash.discard(layer_dir(paths, chain_id)):
            crash_point("gc:after-layer-trashed")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(layer_dir(paths, chain_id) + ".lock")
    if chain_ids:
        with contextlib.suppress(OSError):
            trash.sync_renames_from(paths.layers)  # once for all of them
    return freed


def empty_trash(paths: Paths) -> int:
    """Remove everything in the trash but the journal; returns how many entries."""
    return _trash(paths).empty_now()


def remove_stale_unpacks(paths: Paths, stale_seconds: float) -> None:
    """Delete `.tmp-*` dirs older than stale_seconds (leftovers of a killed unpack)."""
    deadline = time.time() - stale_seconds
    for name in os.listdir(paths.layers):
        if name.startswith(TMP_PREFIX):
            path = os.path.join(paths.layers, name)
            with contextlib.suppress(FileNotFoundError):
                if os.lstat(path).st_mtime < deadline:
                    remove_tree(path)


def remove_unfinished(paths: Paths) -> int:
    """Delete every unpack in progress and every layer dir without meta.json; returns how many.

    Only safe while no one unpacks (the daemon at start). A dir without
    meta.json under a chain id was never a usable layer: a version that
    deleted layers in place was killed in the middle.
    """
    unfinished = [n for n in os.listdir(paths.layers) if n.startswith(TMP_PREFIX)]
    for name in unfinished:
        remove_tree(os.path.join(paths.layers, name))
    debris = [n for n in os.listdir(paths.layers)
              if _HEX64_RE.match(n) and not is_unpacked(paths, "sha256:" + n)]
    trash = _trash(paths)
    for name in debris:
        moved = trash.discard(os.path.join(paths.layers, name))
        if moved:
            trash.delete_now(moved)
    return len(unfinished) + len(debris)
