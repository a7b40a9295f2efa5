"""build/cache.py: step keys, durable entries, blobs kept through a store GC, prune."""
from __future__ import annotations

import io
import os

import pytest

from rootless.build.cache import BuildCache, CacheEntry, step_key
from rootless.config.paths import Paths
from rootless.images import commit
from rootless.images.store import ImageStore


@pytest.fixture()
def store(tmp_path) -> ImageStore:  # type: ignore[no-untyped-def]
    paths = Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run"))
    for directory in (paths.blobs, paths.ingest, paths.images, paths.layers, paths.tmp):
        os.makedirs(directory, exist_ok=True)
    return ImageStore(paths)


def test_step_key_depends_on_parent_step_and_inputs_only() -> None:
    key = step_key("sha256:aa", "COPY sha256:11 in /x", {"network": "default"})
    assert key == step_key("sha256:aa", "COPY sha256:11 in /x", {"network": "default"})
    assert key != step_key("sha256:ab", "COPY sha256:11 in /x", {"network": "default"})
    assert key != step_key("sha256:aa", "COPY sha256:12 in /x", {"network": "default"})
    assert key != step_key("sha256:aa", "COPY sha256:11 in /x", {"network": "none"})
    assert len(key) == 64


def test_entry_round_trip_and_blob_restored_after_gc(store: ImageStore) -> None:
    cache = BuildCache(store.paths.build_cache, store)
    layer = commit.write_layer(store, io.BytesIO(b"\0" * 1024))
    entry = CacheEntry("ab" * 32, b'{"config":{}}', [layer])
    cache.put(entry, [layer])
    os.unlink(store.blob_path(layer.digest))  # what a garbage collection does to an unreferenced blob
    assert not store.has_blob(layer.digest)
    found = cache.get(entry.key)
    assert found is not None and found.config == entry.config and found.image_id == entry.image_id
    assert [x.digest for x in found.layers] == [layer.digest] and store.has_blob(layer.digest)


def test_missing_or_malformed_entries_are_misses(store: ImageStore) -> None:
    cache = BuildCache(store.paths.build_cache, store)
    assert cache.get("cd" * 32) is None
    path = os.path.join(cache.entries, "cd", "cd" * 32 + ".json")
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        f.write('{"format": 1, "config": "{}"}')
    assert cache.get("cd" * 32) is None


def test_prune_drops_everything_and_recover_finishes_a_killed_prune(store: ImageStore) -> None:
    cache = BuildCache(store.paths.build_cache, store)
    layer = commit.write_layer(store, io.BytesIO(b"x" * 100))
    cache.put(CacheEntry("ef" * 32, b"{}", [layer]), [layer])
    assert len(cache.usage()) == 1
    result = cache.prune()
    assert result["CachesDeleted"] == ["ef" * 32] and result["SpaceReclaimed"] > 0
    assert cache.get("ef" * 32) is None and cache.usage() == []
    os.makedirs(os.path.join(cache.trash, "entries"))  # a prune killed after its rename
    cache.recover()
    assert not os.path.exists(cache.trash)
