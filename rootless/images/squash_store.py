"""The user's own images as one squashfs file each (issue 15, config `image_format = "squashfs"`).

On a parallel filesystem an image is better one file than 10k small ones.
With the switch on, an image pulled or loaded into the user's store is
flattened into a squashfs file (the export format, runtime/storage/squashfs.py)
and its unpacked layer dirs are released; containers run from the file
mounted with squashfuse, as site images (images/site_store.py) do.

On-disk format (beside Paths.layers; keep it stable):

    <root>/squashfs-images/<image id hex>.sqfs          the image's rootfs/ + image.json
    <root>/squashfs-images/.tmp-<image id hex>.<n>.sqfs   a conversion in progress

The blobs stay: they are what push, save and a build FROM the image use
(layers.ensure_unpacked unpacks again from them). Only the layer dirs go.

A conversion is crash-safe by construction: the file is written under a
temporary name and fsynced, linked into place (the one step that switches the
image to its new form), and only then are the layer dirs renamed into the
trash and removed. Killed before the link, the image is still in dir form and
settle() removes the temporary file; killed after it, settle() finishes the
release. A file whose image is no longer in the index (rmi killed between
the index and the file) is removed by settle() too.
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Callable, Iterable, List, Set

from rootless.errors import FailedPrecondition
from rootless.images import layer_dirs
from rootless.images.crashpoint import crash_point
from rootless.images.store import ImageRecord, ImageStore
from rootless.util import fs
from rootless.util.digest import digest_hex

logger = logging.getLogger(__name__)

DIR_NAME = "squashfs-images"
SUFFIX = ".sqfs"
TMP_PREFIX = ".tmp-"

# make(out): write the image's squashfs file at out (runtime/storage/squashfs.make_squashfs, bound
# by the engine: this layer can't mount or run mksquashfs).
MakeFile = Callable[[str], None]


def store_dir(root: str) -> str:
    return os.path.join(root, DIR_NAME)


def image_file(root: str, image_id: str) -> str:
    return os.path.join(store_dir(root), digest_hex(image_id) + SUFFIX)


def has_file(root: str, image_id: str) -> bool:
    return os.path.isfile(image_file(root, image_id))


def convert(store: ImageStore, record: ImageRecord, make: MakeFile) -> str:
    """Write the image's squashfs file (temp name, fsync, link); returns its path.

    A file already in place (another conversion's) is kept. The caller
    releases the layer dirs afterwards (release_layers); a crash in between
    leaves both forms, which settle() resolves to the file.
    """
    final = image_file(store.paths.root, record.image_id)
    if os.path.isfile(final):
        return final
    directory = fs.ensure_dir(store_dir(store.paths.root), 0o700)
    tmp = os.path.join(directory, f"{TMP_PREFIX}{digest_hex(record.image_id)}.{os.urandom(4).hex()}{SUFFIX}")
    try:
        make(tmp)
        crash_point("sqfs:after-write")
        _fsync_file(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    try:  # a link, not a rename: a concurrent conversion's file already in place is kept, not replaced
        os.link(tmp, final)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    fs.fsync_dir(directory)
    crash_point("sqfs:after-link")
    logger.info("image %s kept as %s", record.short_id, final)
    return final


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def chains_to_keep(store: ImageStore, in_use: Iterable[str]) -> Set[str]:
    """Layer dirs still needed: every image's not kept as a file, and those of images containers use."""
    used = set(in_use)
    keep: Set[str] = set()
    for record in store.list():
        if record.image_id in used or not has_file(store.paths.root, record.image_id):
            keep.update(record.chain_ids)
    return keep


def release_layers(store: ImageStore, record: ImageRecord, keep: Set[str], wait: bool = False) -> int:
    """Trash and remove the image's layer dirs no one else needs; returns bytes freed.

    Under the garbage collector's lock, so no pull, load or build is stacking
    them right now; wait=False: leave them (settle() at the next start
    releases them) while one holds a lease.
    """
    lock = fs.FileLock(store.paths.gc_lock)
    try:
        lock.acquire(exclusive=True, blocking=wait)
    except FailedPrecondition:
        logger.info("image %s: layer dirs kept until the next start (a pull, load or build is under way)",
                    record.short_id)
        return 0
    try:
        chains = [c for c in record.chain_ids if c not in keep and layer_dirs.is_unpacked(store.paths, c)]
        freed = layer_dirs.trash_layers(store.paths, chains)
        crash_point("sqfs:after-layers-trashed")
        layer_dirs.empty_trash(store.paths)
    finally:
        lock.release()
    return freed


def remove_file(root: str, image_id: str) -> bool:
    """Delete the image's file (rmi, after the index dropped the image); True when there was one."""
    path = image_file(root, image_id)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    with contextlib.suppress(OSError):
        fs.fsync_dir(store_dir(root))
    return True


def leftovers(names: Iterable[str], image_ids: Set[str]) -> List[str]:
    """Names in the store dir a killed daemon left: temporary files, and files of removed images."""
    known = {digest_hex(i) + SUFFIX for i in image_ids}
    return sorted(n for n in names if n.startswith(TMP_PREFIX) or (n.endswith(SUFFIX) and n not in known))


def settle(store: ImageStore, in_use: Iterable[str], image_format: str = "squashfs") -> List[str]:
    """At start (nothing else writes the store): finish or roll back what a killed daemon began.

    An image no container uses with both forms ends in the configured one:
    under "dirs" its file goes when all its layers are unpacked (as a conversion
    back, engine/image_convert.py, killed before the unlink leaves it);
    otherwise its layer dirs go.
    Returns the files removed (their mounts are the caller's to forget).
    """
    directory = store_dir(store.paths.root)
    if not os.path.isdir(directory):
        return []
    records = store.list()
    used = set(in_use)
    for name in leftovers(os.listdir(directory), {r.image_id for r in records}):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, name))
        logger.warning("removed %s, left by a killed conversion or image removal", name)
    # First: the layers of the images that become dir-form are then kept for them below.
    removed = _drop_files_of_unpacked(store, records, used) if image_format == "dirs" else []
    keep = chains_to_keep(store, used)
    for record in records:
        if has_file(store.paths.root, record.image_id) and record.image_id not in used:
            if release_layers(store, record, keep, wait=True):
                logger.warning("released the layer dirs of image %s (kept as a squashfs file)", record.short_id)
    return removed


def _drop_files_of_unpacked(store: ImageStore, records: List[ImageRecord], used: Set[str]) -> List[str]:
    removed = []
    for record in records:
        if record.image_id not in used and has_file(store.paths.root, record.image_id) and all(
                layer_dirs.is_unpacked(store.paths, c) for c in record.chain_ids):
            remove_file(store.paths.root, record.image_id)
            removed.append(image_file(store.paths.root, record.image_id))
            logger.warning('image %s: removed its squashfs file (image_format = "dirs", its layers unpacked)',
                           record.short_id)
    return removed
