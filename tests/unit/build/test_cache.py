"""build/cache.py: step keys, durable entries, blobs kept through a store GC, prune."""
from __future__ import annotations

import io
import os

import pytest

from rootless.build.cache import BuildCache, CacheEntry, step_key
from rootless.config.paths import Paths
from rootless.images import commit, crashpoint
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
    os.makedirs(os.path.join(cache.trash.dir, "entries"))  # an older version's prune killed after its rename
    cache.recover()
    assert cache.trash.leftovers() == []


class Killed(BaseException):
    """Stands for the SIGKILL at a crash point."""


def test_a_prune_killed_after_the_rename_leaves_no_cache_and_the_next_start_empties_the_trash(
        store: ImageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = BuildCache(store.paths.build_cache, store)
    layer = commit.write_layer(store, io.BytesIO(b"x" * 100))
    cache.put(CacheEntry("ef" * 32, b"{}", [layer]), [layer])
    with monkeypatch.context() as patch:
        patch.setenv(crashpoint.CRASH_ENV, "build-cache-prune:after-trash")

        def die() -> None:
            raise Killed()

        patch.setattr(crashpoint, "die", die)
        with pytest.raises(Killed):
            cache.prune()
    left = [os.path.basename(p) for p in cache.trash.leftovers()]
    assert len(left) == 1 and left[0].startswith("build-cache-")  # renamed whole, nothing deleted yet
    restarted = BuildCache(store.paths.build_cache, store)  # nothing half-pruned is visible
    assert restarted.get("ef" * 32) is None and restarted.usage() == []
    restarted.recover()
    assert restarted.trash.leftovers() == [] and not os.path.exists(store.paths.build_cache)


def test_a_filtered_prune_drops_old_entries_and_only_their_blob_links(store: ImageStore) -> None:
    """POST /build/prune with until= (issue 11): before, every prune emptied the whole cache."""
    from rootless.engine.build import cache_filter

    cache = BuildCache(store.paths.build_cache, store)
    old_layer = commit.write_layer(store, io.BytesIO(b"o" * 100))
    new_layer = commit.write_layer(store, io.BytesIO(b"n" * 100))
    cache.put(CacheEntry("aa" * 32, b"{}", [old_layer]), [old_layer])
    cache.put(CacheEntry("bb" * 32, b"{}", [new_layer]), [new_layer])
    os.utime(cache._entry_path("aa" * 32), (1_000_000, 1_000_000))  # last used in 1970
    result = cache.prune_some(cache_filter({"until": ["24h"]}))
    assert result["CachesDeleted"] == ["aa" * 32]
    assert cache.get("bb" * 32) is not None and cache.get("aa" * 32) is None
    assert sorted(os.listdir(cache.blobs)) == [new_layer.digest.replace(":", "-")]
    assert cache.prune_some(cache_filter({"label": ["a=b"]}))["CachesDeleted"] is None  # entries have no labels
    assert cache.prune_some(cache_filter({"id": ["bb"]}))["CachesDeleted"] == ["bb" * 32]


def test_keep_storage_stops_once_the_cache_fits(store: ImageStore) -> None:
    from rootless.engine.build import cache_filter

    cache = BuildCache(store.paths.build_cache, store)
    for number, key in enumerate(("cc" * 32, "dd" * 32)):
        cache.put(CacheEntry(key, b"{}", []))
        os.utime(cache._entry_path(key), (1000 + number, 1000 + number))
    result = cache.prune_some(cache_filter({}), keep_bytes=cache.size() - 1)
    assert result["CachesDeleted"] == ["cc" * 32]  # the least recently used one, then it fits


@pytest.mark.parametrize("bad", [{"color": ["red"]}, {"until": ["1h"], "unused-for": ["2h"]}])
def test_unknown_or_doubled_build_prune_filters_are_refused(bad) -> None:  # type: ignore[no-untyped-def]
    from rootless.engine.build import cache_filter
    from rootless.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        cache_filter(bad)
