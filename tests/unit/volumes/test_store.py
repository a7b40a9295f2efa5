from __future__ import annotations

import json
import os
import re

import pytest

from rootless.config.paths import Paths
from rootless.errors import Conflict, InvalidArgument, NotFound
from rootless.images import crashpoint
from rootless.volumes import ANONYMOUS_LABEL, VolumeStore
from rootless.volumes import store as store_module


@pytest.fixture()
def store(tmp_path) -> VolumeStore:
    return VolumeStore(Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run")))


def test_create_has_docker_shape_and_data_dir(store: VolumeStore) -> None:
    volume = store.create("data", labels={"a": "1"}, options={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    doc = volume.to_json()
    assert set(doc) == {"Name", "Driver", "Mountpoint", "CreatedAt", "Labels", "Scope", "Options"}
    assert doc["Name"] == "data" and doc["Driver"] == "local" and doc["Scope"] == "local"
    assert doc["Labels"] == {"a": "1"} and doc["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    assert doc["Mountpoint"] == os.path.join(store.root, "data", "_data")
    assert os.path.isdir(doc["Mountpoint"])
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", doc["CreatedAt"])
    with open(os.path.join(store.root, "data", "volume.json")) as f:
        assert json.load(f)["Name"] == "data"


def test_create_without_name_generates_64_hex(store: VolumeStore) -> None:
    assert re.match(r"^[0-9a-f]{64}$", store.create().name)


def test_create_is_idempotent_for_an_existing_name(store: VolumeStore) -> None:
    first = store.create("v1", labels={"x": "1"})
    again = store.create("v1", labels={"y": "2"})
    assert again.to_json() == first.to_json()


@pytest.mark.parametrize("name", ["a", "-x", "a/b", "..", "a b"])
def test_create_refuses_bad_names(store: VolumeStore, name: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid characters"):
        store.create(name)


def test_create_refuses_other_drivers(store: VolumeStore) -> None:
    with pytest.raises(InvalidArgument, match="not supported"):
        store.create("v1", driver="nfs")


def test_get_missing_is_not_found(store: VolumeStore) -> None:
    with pytest.raises(NotFound, match="^get nope: no such volume$"):
        store.get("nope")
    with pytest.raises(NotFound):
        store.get("../etc")


def test_list_filters(store: VolumeStore) -> None:
    store.create("alpha", labels={"env": "prod"})
    store.create("beta", labels={"env": "dev", "keep": ""})
    store.create("gamma")
    names = lambda vols: [v.name for v in vols]  # noqa: E731
    assert names(store.list()) == ["alpha", "beta", "gamma"]
    assert names(store.list({"name": ["ph"]})) == ["alpha"]
    assert names(store.list({"label": ["env"]})) == ["alpha", "beta"]
    assert names(store.list({"label": ["env=dev"]})) == ["beta"]
    assert names(store.list({"label!": ["env"]})) == ["gamma"]
    assert names(store.list({"driver": ["local"]})) == ["alpha", "beta", "gamma"]
    in_use = lambda name: name == "beta"  # noqa: E731
    assert names(store.list({"dangling": ["true"]}, in_use)) == ["alpha", "gamma"]
    assert names(store.list({"dangling": ["0"]}, in_use)) == ["beta"]


def test_list_refuses_unknown_filter_and_bad_bool(store: VolumeStore) -> None:
    with pytest.raises(InvalidArgument, match="invalid filter 'color'"):
        store.list({"color": ["red"]})
    with pytest.raises(InvalidArgument, match="dangling"):
        store.list({"dangling": ["maybe"]})


def test_remove(store: VolumeStore) -> None:
    volume = store.create("v1")
    with open(os.path.join(volume.mountpoint, "f"), "w") as f:
        f.write("x")
    store.remove("v1")
    assert not os.path.exists(os.path.join(store.root, "v1"))
    assert [n for n in os.listdir(store.root) if n not in (".lock", ".trash")] == []
    assert os.listdir(os.path.join(store.root, ".trash")) == []
    with pytest.raises(NotFound):
        store.remove("v1")
    store.remove("v1", force=True)


def test_remove_in_use_is_conflict_even_with_force(store: VolumeStore) -> None:
    store.create("v1")
    with pytest.raises(Conflict, match=r"^remove v1: volume is in use - \[abc123\]$"):
        store.remove("v1", force=True, in_use_by=["abc123"])
    assert store.exists("v1")


def test_prune_takes_unused_anonymous_volumes_unless_all(store: VolumeStore) -> None:
    anon = store.create(anonymous=True)
    assert anon.anonymous and ANONYMOUS_LABEL in anon.labels
    used = store.create(anonymous=True)
    store.create("named")
    with open(os.path.join(anon.mountpoint, "f"), "w") as f:
        f.write("12345")
    deleted, reclaimed = store.prune(lambda name: name == used.name)
    assert deleted == [anon.name] and reclaimed == 5
    deleted, _ = store.prune(lambda name: name == used.name, {"all": ["true"]})
    assert deleted == ["named"]
    assert [v.name for v in store.list()] == [used.name]


def test_prune_label_filter(store: VolumeStore) -> None:
    store.create("aa", labels={"k": "1"})
    store.create("bb")
    deleted, _ = store.prune(lambda _n: False, {"all": ["1"], "label": ["k=1"]})
    assert deleted == ["aa"]


def test_prune_skips_volumes_with_options_even_with_all(store: VolumeStore) -> None:
    # moby's Prune: a volume with mount options holds no local data to reclaim
    store.create("opts", options={"type": "tmpfs", "device": "tmpfs"})
    store.create(options={"type": "tmpfs", "o": "size=1m"}, anonymous=True)
    store.create("plain")
    deleted, _ = store.prune(lambda _n: False, {"all": ["true"]})
    assert deleted == ["plain"]


class Killed(BaseException):
    """Stands for SIGKILL: nothing after the raise point runs (no except Exception catches it)."""


def _killed_at(monkeypatch, target: object, name: str) -> None:  # type: ignore[no-untyped-def]
    def die(*_args: object, **_kwargs: object) -> None:
        raise Killed()
    monkeypatch.setattr(target, name, die)


def _leftovers(store: VolumeStore) -> list:  # type: ignore[type-arg]
    trash = os.path.join(store.root, ".trash")
    hidden = [n for n in os.listdir(store.root) if n.startswith(".") and n not in (".lock", ".trash")]
    return hidden + (os.listdir(trash) if os.path.isdir(trash) else [])


def _killed_after_the_rename(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL at the crash point between the rename into the trash and the deletion."""
    monkeypatch.setenv(crashpoint.CRASH_ENV, "volume-rm:after-trash")
    _killed_at(monkeypatch, crashpoint, "die")


def _assert_gone_for_good(store: VolumeStore, name: str) -> None:
    """Half deleted is invisible: not listed, not found, not pruned; a restart leaves nothing."""
    assert not store.exists(name) and store.list() == []
    assert store.prune(lambda _n: False, {"all": ["true"]}) == ([], 0)
    reopened = VolumeStore(Paths(root=os.path.dirname(store.root), run=os.path.dirname(store.root)))
    reopened.recover()
    assert _leftovers(reopened) == [] and not reopened.exists(name)


def test_remove_killed_after_the_rename_is_finished_by_recover(store: VolumeStore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    volume = store.create("doomed")
    os.makedirs(os.path.join(volume.mountpoint, "a", "b"))
    os.chmod(os.path.join(volume.mountpoint, "a"), 0o555)  # a container may leave read-only dirs
    with monkeypatch.context() as patch:
        _killed_after_the_rename(patch)
        with pytest.raises(Killed):
            store.remove("doomed")
    assert [n.split("-")[0] for n in _leftovers(store)] == ["doomed"]  # renamed, nothing deleted yet
    _assert_gone_for_good(store, "doomed")


def test_remove_killed_mid_delete_leaves_nothing_half_deleted_visible(store: VolumeStore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    volume = store.create("doomed")
    for name in ("a", "b"):
        with open(os.path.join(volume.mountpoint, name), "w") as f:
            f.write(name)

    def killed_after_one_file(doomed: str) -> None:
        os.unlink(os.path.join(doomed, "_data", "a"))
        raise Killed()

    with monkeypatch.context() as patch:
        patch.setattr(store.trash, "_delete", killed_after_one_file)
        with pytest.raises(Killed):
            store.remove("doomed")
    _assert_gone_for_good(store, "doomed")


def test_remove_of_a_volume_whose_dir_vanished_is_not_found(store: VolumeStore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store.create("vanishing")
    real_read = store._read

    def read_then_lose_the_dir(name: str):  # type: ignore[no-untyped-def]
        found = real_read(name)
        store_module.remove_tree(os.path.join(store.root, name))  # another process's rm -r
        return found

    monkeypatch.setattr(store, "_read", read_then_lose_the_dir)
    with pytest.raises(NotFound, match="its directory is gone"):
        store.remove("vanishing")


def test_prune_empties_the_trash_too(store: VolumeStore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store.create("doomed")
    with monkeypatch.context() as patch:
        _killed_after_the_rename(patch)
        with pytest.raises(Killed):
            store.remove("doomed")
    assert _leftovers(store) != []
    store.prune(lambda _n: False)
    assert _leftovers(store) == []


def test_recover_removes_what_older_versions_left(store: VolumeStore) -> None:
    store.create("kept")
    legacy = os.path.join(store.root, ".deleting-old-0123abcd", "_data")
    os.makedirs(legacy)
    assert [v.name for v in store.list()] == ["kept"]
    store.recover()
    assert _leftovers(store) == [] and [v.name for v in store.list()] == ["kept"]


def test_create_killed_before_the_rename_leaves_no_volume(store: VolumeStore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with monkeypatch.context() as patch:
        _killed_at(patch, store_module.os, "rename")
        with pytest.raises(Killed):
            store.create("half")
    assert not store.exists("half") and store.list() == []
    store.recover()
    assert _leftovers(store) == []
    assert os.path.isdir(store.create("half").mountpoint)


def test_create_replaces_a_dir_without_a_record(store: VolumeStore) -> None:
    os.makedirs(os.path.join(store.root, "stray", "_data", "junk"))
    volume = store.create("stray")
    assert os.listdir(volume.mountpoint) == [] and store.exists("stray")


def test_data_dir_is_0755_whatever_the_umask(store: VolumeStore) -> None:
    old = os.umask(0o077)
    try:
        volume = store.create("private-umask")
    finally:
        os.umask(old)
    assert os.stat(volume.mountpoint).st_mode & 0o7777 == 0o755
