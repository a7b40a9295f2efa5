"""The store serves parsed records again while their files' stat is unchanged, and reads again
whatever another writer changed: another store (another process's view), a side file, a removal,
an edit in place."""
from __future__ import annotations

import json
import os
from typing import Any, Callable, List, Optional, Tuple

import pytest

from rootless.config.paths import Paths
from rootless.networks import NetworkStore
from rootless.networks import store as store_module

DOOMED, KEPT = "d" * 64, "k" * 64


def new_store(root: str) -> NetworkStore:
    return NetworkStore(Paths(root=root, run="/nonexistent"), host_routes=lambda: [])


@pytest.fixture()
def root(tmp_path: Any) -> str:
    return str(tmp_path / "root")


@pytest.fixture()
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files count as settled once written (no racy margin), as they are RACY_NS after their
    last change: the tests see the cache at work without waiting seconds."""
    monkeypatch.setattr(store_module, "RACY_NS", 0)


def count_reads(store: NetworkStore, monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """The names of the files the store parses from now on (its one read function, wrapped)."""
    read: Callable[[str], Optional[Tuple[Any, Any]]] = store._read_record
    seen: List[str] = []

    def counting(path: str) -> Optional[Tuple[Any, Any]]:
        seen.append(os.path.basename(path))
        return read(path)

    monkeypatch.setattr(store, "_read_record", counting)
    return seen


def side_name(store: NetworkStore, network: str) -> str:
    return f"{store.get(network).network_id}.ephemeral"


def test_a_second_load_reads_no_file_and_returns_equal_networks(
        root: str, settled: None, monkeypatch: pytest.MonkeyPatch) -> None:
    store = new_store(root)
    store.create("user", labels={"a": "b"})
    store.connect("bridge", DOOMED, "doomed", ephemeral=True)
    first = [n.to_record() for n in store.list()]
    reads = count_reads(store, monkeypatch)
    assert [n.to_record() for n in store.list()] == first  # and no side file probed: none listed
    assert store.get("bridge").endpoints[DOOMED].ephemeral
    assert [n.name for n in store.networks_of(DOOMED)] == ["bridge"]
    assert reads == []


def test_returned_networks_are_copies_a_caller_cannot_corrupt_the_cache_through(
        root: str, settled: None) -> None:
    store = new_store(root)
    store.create("user", labels={"a": "b"})
    store.connect("user", KEPT, "kept", details=store_module.EndpointDetails(
        ipam_config={"LinkLocalIPs": ["169.254.1.1"]}))
    before = json.dumps(store.get("user").to_record())  # a deep snapshot: to_record's copies are shallow
    spoiled = store.get("user")
    spoiled.labels["a"] = "spoiled"
    spoiled.endpoints[KEPT].aliases.append("spoiled")
    spoiled.endpoints[KEPT].ipam_config["LinkLocalIPs"].append("spoiled")
    spoiled.endpoints.clear()
    assert json.dumps(store.get("user").to_record()) == before


def test_a_record_another_store_rewrites_is_read_again(
        root: str, settled: None, monkeypatch: pytest.MonkeyPatch) -> None:
    store, other = new_store(root), new_store(root)
    store.list()  # writes the predefined networks, which the next load reads and caches
    bridge_file = f"{store.get('bridge').network_id}.json"
    reads = count_reads(store, monkeypatch)
    other.connect("bridge", KEPT, "kept")  # durable: bridge's record
    assert KEPT in store.get("bridge").endpoints
    assert reads == [bridge_file]  # only the file that changed
    other.create("user")
    assert [n.name for n in store.list()] == ["bridge", "host", "none", "user"]


def test_a_side_file_another_store_writes_or_removes_is_seen(
        root: str, settled: None, monkeypatch: pytest.MonkeyPatch) -> None:
    store, other = new_store(root), new_store(root)
    store.connect("bridge", DOOMED, "doomed", allocate=False, ephemeral=True)
    assert not store.get("bridge").endpoints[DOOMED].active
    side_file = side_name(store, "bridge")
    reads = count_reads(store, monkeypatch)
    _, endpoint = other.assign_address("bridge", DOOMED)
    seen = store.get("bridge").endpoints[DOOMED]
    assert (seen.active, seen.ipv4) == (True, endpoint.ipv4)
    assert reads == [side_file]
    other.disconnect("bridge", DOOMED)  # the last ephemeral endpoint: the side file goes
    assert DOOMED not in store.get("bridge").endpoints
    assert store.networks_of(DOOMED) == []


def test_a_network_another_store_removes_disappears(root: str, settled: None) -> None:
    store, other = new_store(root), new_store(root)
    created = store.create("user")
    store.connect("user", DOOMED, "doomed", allocate=False, ephemeral=True)
    assert [n.name for n in store.list()] == ["bridge", "host", "none", "user"]
    other.remove("user")
    assert [n.name for n in store.list()] == ["bridge", "host", "none"]
    assert not any(name.startswith(created.network_id) for name in store._cache)  # forgotten too
    with pytest.raises(store_module.NotFound):
        store.get("user")


def test_an_edit_in_place_of_the_same_size_with_its_mtime_put_back_is_seen(root: str) -> None:
    """Same inode, same size, same mtime, maybe the same ctime (a coarse clock tick): the file
    changed within the racy margin before the read, so it was not served from the cache."""
    store = new_store(root)
    network = store.create("user", labels={"team": "aaaa"})
    path = os.path.join(store.root, f"{network.network_id}.json")
    assert store.get("user").labels == {"team": "aaaa"}
    info = os.stat(path)
    with open(path, "r+b") as file:
        text = file.read().replace(b'"aaaa"', b'"bbbb"')
        file.seek(0)
        file.write(text)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert (os.stat(path).st_ino, os.stat(path).st_size) == (info.st_ino, info.st_size)
    assert store.get("user").labels == {"team": "bbbb"}


def test_a_file_changed_within_the_racy_margin_is_read_on_every_load(
        root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its stat could stay the same through a change in the same clock tick, so it is never
    served from the cache (a margin of years: every file here is that recent)."""
    monkeypatch.setattr(store_module, "RACY_NS", 10 ** 18)
    store = new_store(root)
    store.connect("bridge", DOOMED, "doomed", ephemeral=True)
    side_file = side_name(store, "bridge")
    reads = count_reads(store, monkeypatch)
    store.get("bridge")
    store.get("bridge")
    assert reads.count(side_file) == 2
    assert reads.count(f"{store_module.predefined_id('host')}.json") == 2
