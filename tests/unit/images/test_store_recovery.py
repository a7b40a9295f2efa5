"""Deleting images crash-safely, and what the next start does about a crash (images/store.py, layer_dirs.py).

A crash is simulated at each crash point of a garbage collection: the
crash hook raises instead of SIGKILLing pytest, and nothing after it runs
(the collection has no cleanup handlers that would not run after a real kill;
tests/integration/images/test_store_crash.py kills a real daemon).
"""
from __future__ import annotations

import errno
import io
import json
import os
import tarfile
from typing import List

import pytest

from rootless.config.paths import Paths
from rootless.config.settings import StorageReserve
from rootless.images import crashpoint, layer_dirs, layers
from rootless.images.archive import load_archive
from rootless.images.diskspace import NoSpace, SpaceGuard, free_bytes, mountpoint, no_space
from rootless.images.store import ImageRecord, ImageStore
from tests.unit.images.layertar import LayerTar, sha256
from tests.unit.images.test_store import add_test_image

GC_CRASH_POINTS = ["gc:after-journal", "gc:after-layer-trashed", "gc:after-blob-unlinked", "gc:mid-trash-empty"]


class Killed(BaseException):
    """The process died at a crash point."""


@pytest.fixture
def paths(tmp_path) -> Paths:
    return Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run"))


@pytest.fixture
def store(paths: Paths) -> ImageStore:
    return ImageStore(paths)


def kill_at(monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    def die() -> None:
        raise Killed(point)
    monkeypatch.setenv(crashpoint.CRASH_ENV, point)
    monkeypatch.setattr(crashpoint, "die", die)


def blobs_of(record: ImageRecord) -> List[str]:
    return [record.image_id, record.manifest_digest] + [layer.digest for layer in record.layers]


def visible_layers(paths: Paths) -> List[str]:
    return sorted("sha256:" + n for n in os.listdir(paths.layers)
                  if len(n) == 64 and layer_dirs.is_unpacked(paths, "sha256:" + n))


def check_no_layer_without_blob(store: ImageStore, records: List[ImageRecord]) -> None:
    """The state a crash leaves: every visible layer of these images still has its blob."""
    for record in records:
        for layer, chain in zip(record.layers, record.chain_ids):
            if layer_dirs.is_unpacked(store.paths, chain):
                assert store.has_blob(layer.digest), f"layer {chain} is visible but its blob is gone"


@pytest.mark.parametrize("point", GC_CRASH_POINTS)
def test_a_collection_killed_at_any_step_is_finished_at_start(store: ImageStore, paths: Paths,
                                                              monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    shared = add_test_image(store, [b"base"], tag="docker.io/library/kept:1")
    doomed = add_test_image(store, [b"base", b"top", b"more"], tag="docker.io/library/doomed:1")
    layers.ensure_unpacked(store, shared)
    layers.ensure_unpacked(store, doomed)
    store.remove(doomed.image_id)
    kill_at(monkeypatch, point)
    with pytest.raises(Killed):
        store.garbage_collect()
    check_no_layer_without_blob(store, [doomed, shared])
    assert all(n == ".trash" or layer_dirs.is_unpacked(paths, "sha256:" + n.split(".")[0])
               for n in os.listdir(paths.layers) if not n.endswith(".lock")), "a half-deleted layer is visible"
    monkeypatch.delenv(crashpoint.CRASH_ENV)

    ImageStore(paths).recover()  # the next daemon start

    assert os.listdir(layer_dirs.trash_dir(paths)) == []
    gone = set(blobs_of(doomed)) - set(blobs_of(shared))
    assert not any(store.has_blob(d) for d in gone)
    assert all(store.has_blob(d) for d in blobs_of(shared))
    assert visible_layers(paths) == shared.chain_ids
    assert sorted(os.listdir(paths.layers)) == [".trash", shared.chain_ids[0][7:], shared.chain_ids[0][7:] + ".lock"]
    again = add_test_image(store, [b"base", b"top", b"more"])  # a pull of the same image again
    assert layers.ensure_unpacked(store, again)[-1] == layer_dirs.diff_dir(paths, again.chain_ids[-1])


def test_a_recovery_killed_itself_is_finished_by_the_next(store: ImageStore, paths: Paths,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    doomed = add_test_image(store, [b"one", b"two"])
    layers.ensure_unpacked(store, doomed)
    store.remove(doomed.image_id)
    kill_at(monkeypatch, "gc:after-layer-trashed")
    with pytest.raises(Killed):
        store.garbage_collect()
    with pytest.raises(Killed):
        ImageStore(paths).recover()  # killed again while finishing
    monkeypatch.delenv(crashpoint.CRASH_ENV)
    ImageStore(paths).recover()
    assert os.listdir(paths.blobs) == [] and visible_layers(paths) == []
    assert os.listdir(layer_dirs.trash_dir(paths)) == []


def test_a_journal_entry_an_image_needs_again_is_kept(store: ImageStore, paths: Paths,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Finishing a collection re-checks the index: only what is still unreferenced goes."""
    record = add_test_image(store, [b"x"], tag="docker.io/library/x:1")
    layers.ensure_unpacked(store, record)
    with open(layer_dirs.journal_path(paths), "w") as f:
        json.dump({"blobs": blobs_of(record), "layers": record.chain_ids}, f)
    ImageStore(paths).recover()
    assert all(store.has_blob(d) for d in blobs_of(record))
    assert visible_layers(paths) == record.chain_ids
    assert not os.path.exists(layer_dirs.journal_path(paths))


def half_deleted_layer(store: ImageStore, record: ImageRecord) -> str:
    """What deleting in place and a SIGKILL left (older versions): the chain dir, meta.json gone."""
    chain = record.chain_ids[0]
    layers.ensure_unpacked(store, record)
    os.unlink(os.path.join(layer_dirs.layer_dir(store.paths, chain), "meta.json"))
    return chain


def test_unpack_replaces_a_half_deleted_layer_dir(store: ImageStore) -> None:
    """Was: [Errno 39] Directory not empty: '.tmp-...' -> 'layers/<chain>' on every pull."""
    record = add_test_image(store, [b"content"])
    chain = half_deleted_layer(store, record)
    [diff] = layers.ensure_unpacked(store, record)
    assert layer_dirs.is_unpacked(store.paths, chain)
    with open(os.path.join(diff, "f0"), "rb") as f:
        assert f.read() == b"content"
    assert os.listdir(layer_dirs.trash_dir(store.paths)) == []


def test_recover_clears_half_deleted_layer_dirs(store: ImageStore, paths: Paths) -> None:
    record = add_test_image(store, [b"content"])
    chain = half_deleted_layer(store, record)
    ImageStore(paths).recover()
    assert not os.path.exists(layer_dirs.layer_dir(paths, chain))
    assert visible_layers(paths) == [] and os.listdir(layer_dirs.trash_dir(paths)) == []


# -- load of an image the store has ---------------------------------------------------------------
def gzip_image(store: ImageStore, content: bytes, tag: str) -> ImageRecord:
    """An image as a pull stores it: gzip layer blobs whose digest differs from the diff id."""
    import gzip
    from rootless.images import types
    from rootless.images.store import LayerRecord
    raw = LayerTar().file("f", content).bytes()
    blob = gzip.compress(raw, mtime=0)
    layer = LayerRecord(store.put_blob(blob), types.MT_OCI_LAYER_GZIP, len(blob), sha256(raw))
    config_digest = store.put_blob(json.dumps({"architecture": "amd64", "os": "linux",
                                               "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]}}).encode())
    manifest = {"schemaVersion": 2, "mediaType": types.MT_OCI_MANIFEST,
                "config": {"mediaType": types.MT_OCI_CONFIG, "digest": config_digest, "size": 1},
                "layers": [{"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}]}
    manifest_digest = store.put_blob(json.dumps(manifest).encode())
    return store.add_image(manifest_digest, types.MT_OCI_MANIFEST, config_digest, [layer], repo_tag=tag)


def test_loading_an_image_the_store_has_only_tags_it(store: ImageStore) -> None:
    """Was: load replaced the pulled record's manifest and gzip layers with the archive's plain
    ones; after an rmi of the loaded tag and a GC the pulled blobs were gone for good."""
    pulled = gzip_image(store, b"busybox", "docker.io/library/busybox:latest")
    [image] = load_archive(store, io.BytesIO(legacy_archive(store, pulled, b"busybox")))
    assert image.record.image_id == pulled.image_id
    assert image.record.manifest_digest == pulled.manifest_digest
    assert image.record.layers == pulled.layers
    assert sorted(image.record.repo_tags) == ["docker.io/library/busybox:latest", "docker.io/library/loaded:1"]
    store.untag("docker.io/library/loaded:1")
    store.garbage_collect()
    assert all(store.has_blob(d) for d in blobs_of(pulled))
    assert sorted(os.listdir(store.paths.blobs)) == sorted(d[7:] for d in blobs_of(pulled))  # the plain copy went
    assert store.get("docker.io/library/busybox:latest").manifest_digest == pulled.manifest_digest


def legacy_archive(store: ImageStore, record: ImageRecord, content: bytes) -> bytes:
    """What `podman save` / docker < 25 writes for record: plain layer tars, no manifest."""
    config = store.read_blob(record.image_id)
    layer_tar = LayerTar().file("f", content).bytes()
    assert sha256(layer_tar) == record.layers[0].diff_id
    files = {"cfg.json": config, "l/layer.tar": layer_tar,
             "manifest.json": json.dumps([{"Config": "cfg.json", "RepoTags": ["loaded:1"],
                                          "Layers": ["l/layer.tar"]}]).encode()}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# -- disk space ---------------------------------------------------------------------------------
def test_no_space_names_the_filesystem_and_the_store(tmp_path) -> None:
    exc = no_space("can't store blob sha256:ab", str(tmp_path / "x" / "y"), OSError(errno.ENOSPC, "full"),
                   "/the/store")
    mount = mountpoint(str(tmp_path))
    assert os.path.ismount(mount) and str(tmp_path).startswith(mount)
    assert exc.message == f"can't store blob sha256:ab: no space left on device on {mount} (store /the/store)"
    assert exc.http_status == 409 and exc.hint


def test_space_guard_refuses_before_the_reserve_is_touched(tmp_path) -> None:
    reserve = StorageReserve(limit=max(0, free_bytes(str(tmp_path)) - (64 << 20)))  # 64 MiB of room
    guard = SpaceGuard(str(tmp_path), reserve, "can't unpack layer sha256:bomb")
    guard.charge(1 << 20)
    with pytest.raises(NoSpace, match=r"can't unpack layer sha256:bomb: .* more would leave less than "
                                      r"the storage reserve .* free on /"):
        guard.charge(64 << 30)


def bomb_header(size: int) -> bytes:
    """A layer whose one member claims size bytes (the data never comes: it must not be needed)."""
    info = tarfile.TarInfo("zeros")
    info.size = size
    return info.tobuf(format=tarfile.PAX_FORMAT)


def test_a_bomb_layer_is_stopped_at_its_header_and_cleaned(paths: Paths) -> None:
    os.makedirs(paths.layers)
    layer_dirs.set_reserve(paths, StorageReserve(limit=max(0, free_bytes(paths.layers) - (64 << 20))))
    blob = os.path.join(paths.root, "bomb")
    with open(blob, "wb") as f:
        f.write(bomb_header(64 << 30))
    with pytest.raises(NoSpace, match="storage reserve"):
        layers.unpack_layer(paths, blob, "sha256:" + "b" * 64, "sha256:" + "d" * 64, "sha256:" + "c" * 64)
    assert [n for n in os.listdir(paths.layers) if n != ".trash"] == []
