"""Unpacking image layers into the layer store, once per chain.

ensure_unpacked() unpacks an image's layers from their committed blobs;
StreamedUnpack follows a blob's ingest file while the download still writes
it. Either way the tar is applied by images/layer_tar.py into a `.tmp-*` dir
that becomes a layer of images/layer_dirs.py only once its DiffID (and, when
streamed, the blob's digest) checked out and its data is on disk.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from typing import Callable, List, Optional, cast

from rootless.config.paths import Paths
from rootless.errors import InvalidArgument, NotFound, Unavailable
from rootless.images.diskspace import SpaceGuard, is_no_space, no_space
from rootless.images.layer_dirs import (TMP_PREFIX, diff_dir, is_unpacked, layer_dir, publish, reserve_for,
                                        write_meta)
from rootless.images.layer_tar import BUFSIZE, Reader, apply_layer
from rootless.images.store import ImageRecord, ImageStore
from rootless.util import fs
from rootless.util.fs import remove_tree

logger = logging.getLogger(__name__)


def ensure_unpacked(store: ImageStore, record: ImageRecord) -> List[str]:
    """Unpack every layer of an image not unpacked yet; returns diff dirs, lowest first."""
    dirs = []
    for layer, chain_id in zip(record.layers, record.chain_ids):
        if not is_unpacked(store.paths, chain_id):
            if not store.has_blob(layer.digest):
                raise NotFound(f"can't unpack layer: {layer.digest}: blob is not in the store",
                               hint="pull the image again")
            with fs.locked(layer_dir(store.paths, chain_id) + ".lock"):
                if not is_unpacked(store.paths, chain_id):
                    unpack_layer(store.paths, store.blob_path(layer.digest), layer.digest,
                                 layer.diff_id, chain_id)
        dirs.append(diff_dir(store.paths, chain_id))
    return dirs


def unpack_layer(paths: Paths, blob_path: str, layer_digest: str, diff_id: str, chain_id: str) -> str:
    """Apply one layer blob into Paths.layers/<chain>/diff, verifying its DiffID."""
    with open(blob_path, "rb", buffering=BUFSIZE) as raw:
        return unpack_stream(paths, raw, layer_digest, diff_id, chain_id)


def unpack_stream(paths: Paths, raw: Reader, layer_digest: str, diff_id: str, chain_id: str,
                  before_publish: Optional[Callable[[], None]] = None) -> str:
    """Apply a layer read from raw into Paths.layers/<chain>/diff; the caller holds the chain's lock.

    Everything is built in a `.tmp-*` dir and renamed into place only after the
    DiffID matched, before_publish() returned (a streamed unpack waits there
    for the blob's own digest check) and the layer's data is on disk.
    """
    started, synced = time.monotonic(), 0.0
    what = f"can't unpack layer {layer_digest}"
    tmp = ""
    try:
        tmp = tempfile.mkdtemp(prefix=TMP_PREFIX, dir=fs.ensure_dir(paths.layers))
        diff = os.path.join(tmp, "diff")
        os.mkdir(diff)
        os.chmod(diff, 0o755)  # the container's / when this is the top layer: not the umask's say
        guard = SpaceGuard(tmp, reserve_for(paths), what, paths.root)
        got_diff_id, size = apply_layer(raw, diff, layer_digest, guard)
        if got_diff_id != diff_id:
            raise InvalidArgument(
                f"can't unpack layer: {layer_digest}: diff id mismatch: content is {got_diff_id}, "
                f"config says {diff_id}"
            )
        if before_publish is not None:
            before_publish()
        synced = time.monotonic()
        fs.syncfs(tmp)  # meta.json makes the layer trusted: its files must be on disk first
        synced = time.monotonic() - synced
        write_meta(tmp, chain_id, diff_id, layer_digest, size)
        publish(paths, tmp, chain_id)
    except BaseException as exc:
        if tmp:
            remove_tree(tmp)
        if is_no_space(exc):
            raise no_space(what, paths.layers, cast(OSError, exc), paths.root) from exc
        raise
    with contextlib.suppress(OSError):
        fs.fsync_dir(paths.layers)
    logger.info("unpacked layer %s (%d bytes) in %.2fs (syncfs %.2fs)", layer_digest, size,
                time.monotonic() - started, synced)
    return diff_dir(paths, chain_id)


class StreamedUnpack:
    """Unpacks a layer in a thread from its ingest file while the download still writes it.

    Download and unpack overlap (containerd's unpacker does the same with a
    tee). The download calls grew() after each write and committed() once the
    store verified and published the blob; the layer is renamed into place only
    after that and after its own DiffID check, so a bad blob never becomes a
    layer. Failures are only logged: the caller then unpacks from the committed
    blob the usual way (ensure_unpacked), which reports them properly.
    """

    def __init__(self, paths: Paths, data_path: str, layer_digest: str, diff_id: str, chain_id: str) -> None:
        self._paths, self._digest, self._diff_id, self._chain_id = paths, layer_digest, diff_id, chain_id
        self._source = _GrowingFile(data_path)  # opened now: the ingest file moves on commit
        self.error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="layer-unpack", daemon=True)
        self._thread.start()

    def grew(self, size: int) -> None:
        self._source.grew(size)

    def committed(self) -> None:
        self._source.finish(True)

    def close(self) -> None:
        """Wait for the unpack (aborting it unless committed() was called); never raises."""
        self._source.finish(False)
        self._thread.join()
        self._source.close()
        if self.error is not None:
            logger.warning("streamed unpack of %s failed, unpacking from the blob: %s", self._digest, self.error)

    def _run(self) -> None:
        try:
            with fs.locked(layer_dir(self._paths, self._chain_id) + ".lock"):
                if not is_unpacked(self._paths, self._chain_id):
                    unpack_stream(self._paths, self._source, self._digest, self._diff_id, self._chain_id,
                                  before_publish=self._source.wait_committed)
        except BaseException as exc:  # noqa: BLE001 - reported by close(), redone from the blob
            self.error = exc


class _GrowingFile:
    """read() of a file another thread appends to: blocks for more until finish()."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "rb", buffering=0)
        self._cond = threading.Condition()
        self._available = 0
        self._position = 0
        self._outcome: Optional[bool] = None  # None: still writing; True: committed; False: aborted

    def grew(self, size: int) -> None:
        with self._cond:
            self._available = size
            self._cond.notify_all()

    def finish(self, ok: bool) -> None:
        with self._cond:
            if self._outcome is None:
                self._outcome = ok
            self._cond.notify_all()

    def wait_committed(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._outcome is not None)
            if not self._outcome:
                raise Unavailable("streamed unpack: download did not complete")

    def read(self, size: int = -1, /) -> bytes:
        wanted = size if size is not None and size >= 0 else 1 << 62
        parts: List[bytes] = []
        while wanted > 0 and self._wait_for_data():
            part = self._file.read(min(wanted, BUFSIZE))
            if not part:
                raise Unavailable("streamed unpack: ingest file is shorter than written")
            self._position += len(part)
            wanted -= len(part)
            parts.append(part)
        return b"".join(parts)

    def _wait_for_data(self) -> bool:
        """True when bytes past the position are written; False at the end of a committed blob."""
        with self._cond:
            self._cond.wait_for(lambda: self._available > self._position or self._outcome is not None)
            if self._outcome is False:
                raise Unavailable("streamed unpack: download did not complete")
            return self._available > self._position

    def close(self) -> None:
        self._file.close()
