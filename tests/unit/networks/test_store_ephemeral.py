"""A --rm container's endpoint lives in the network's side file, written without fsync; the daemon's
start drops endpoints whose container does not exist."""
from __future__ import annotations

import json
import os
from typing import Any

import pytest

from rootless.config.paths import Paths
from rootless.networks import NetworkStore
from tests.unit.fsync_spy import spy_fsync

DOOMED, KEPT = "d" * 64, "k" * 64


@pytest.fixture()
def store(tmp_path: Any) -> NetworkStore:
    return NetworkStore(Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run")), host_routes=lambda: [])


def record(store: NetworkStore, name: str) -> Any:
    with open(os.path.join(store.root, f"{store.get(name).network_id}.json")) as f:
        return json.load(f)


def side_file(store: NetworkStore, name: str) -> str:
    return os.path.join(store.root, f"{store.get(name).network_id}.ephemeral")


def test_a_rm_containers_connect_address_and_disconnect_make_no_fsync(store: NetworkStore,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    store.connect("bridge", KEPT, "kept", allocate=False)
    synced = spy_fsync(monkeypatch)
    store.connect("bridge", DOOMED, "doomed", allocate=False, ephemeral=True)
    _, endpoint = store.assign_address("bridge", DOOMED)
    assert synced == []
    assert DOOMED not in record(store, "bridge")["Containers"]  # the shared record is not rewritten
    again = NetworkStore(Paths(root=os.path.dirname(store.root), run="/nonexistent"), host_routes=lambda: [])
    seen = again.get("bridge").endpoints[DOOMED]
    assert (seen.ephemeral, seen.ipv4, seen.active) == (True, endpoint.ipv4, True)
    _, kept = again.assign_address("bridge", KEPT)
    assert kept.ipv4 != endpoint.ipv4  # the side file's addresses are taken
    assert len(synced) == 2  # a durable endpoint's write: file and directory, as before
    store.disconnect_all(DOOMED)
    assert not os.path.exists(side_file(store, "bridge"))
    assert DOOMED not in store.get("bridge").endpoints and KEPT in record(store, "bridge")["Containers"]


def test_a_torn_side_file_reads_as_empty_and_the_record_is_intact(store: NetworkStore) -> None:
    store.connect("bridge", KEPT, "kept")
    store.connect("bridge", DOOMED, "doomed", ephemeral=True)
    with open(side_file(store, "bridge"), "w") as f:
        f.write('{"' + DOOMED[:10])  # a power cut after a write without fsync
    assert list(store.get("bridge").endpoints) == [KEPT]
    store.connect("bridge", DOOMED, "doomed", ephemeral=True)  # and it can be written again
    assert set(store.get("bridge").endpoints) == {KEPT, DOOMED}


def test_the_start_drops_endpoints_of_containers_that_do_not_exist(store: NetworkStore) -> None:
    store.create("user")
    store.connect("bridge", KEPT, "kept")
    store.connect("bridge", DOOMED, "doomed", ephemeral=True)
    store.connect("user", "o" * 64, "orphan")  # durable, killed before its container's record
    assert sorted(store.drop_orphans([KEPT])) == sorted([DOOMED, "o" * 64])
    assert list(store.get("bridge").endpoints) == [KEPT]
    assert store.get("user").endpoints == {}
    assert not os.path.exists(side_file(store, "bridge"))
    assert store.drop_orphans([KEPT]) == []


def test_removing_a_network_takes_its_side_file(store: NetworkStore) -> None:
    store.create("user")
    store.connect("user", DOOMED, "doomed", allocate=False, ephemeral=True)  # created, never started
    path = side_file(store, "user")
    assert os.path.exists(path)
    store.remove("user")
    assert not os.path.exists(path)
    assert [n.name for n in store.list()] == ["bridge", "host", "none"]


def test_the_start_drops_a_side_file_whose_network_is_gone(store: NetworkStore) -> None:
    store.create("user")
    store.connect("user", DOOMED, "doomed", allocate=False, ephemeral=True)
    store.connect("bridge", KEPT, "kept", allocate=False, ephemeral=True)
    path = side_file(store, "user")
    os.unlink(os.path.join(store.root, f"{store.get('user').network_id}.json"))  # a remove killed halfway (old order)
    store.drop_orphans([KEPT])
    assert not os.path.exists(path)
    assert os.path.exists(side_file(store, "bridge"))  # a live network's side file stays
