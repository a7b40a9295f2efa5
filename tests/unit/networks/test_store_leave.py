"""NetworkStore.leave: a removed container's endpoints stop counting at once, in memory, and
disconnect_all writes them away later (engine/containers.py _remove_stopped answers between
the two; bench/README.md "Run path, session 12")."""
from __future__ import annotations

import json
import os
from typing import Any

import pytest

from rootless.config.paths import Paths
from rootless.networks import NetworkStore

GONE, OTHER = "g" * 64, "o" * 64


@pytest.fixture()
def store(tmp_path: Any) -> NetworkStore:
    return NetworkStore(Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run")), host_routes=lambda: [])


def _files_name(store: NetworkStore, network_id: str) -> bool:
    """Whether GONE is in the network's record or side file on disk."""
    found = False
    for suffix in (".json", ".ephemeral"):
        path = os.path.join(store.root, network_id + suffix)
        if os.path.exists(path):
            with open(path) as f:
                data = json.load(f)
            found |= GONE in (data.get("Containers", data) if suffix == ".json" else data)
    return found


@pytest.mark.parametrize("ephemeral", [False, True])
def test_a_leaving_containers_endpoints_are_gone_at_once_and_written_away_later(
        store: NetworkStore, ephemeral: bool) -> None:
    network = store.create("quick", subnet="10.77.0.0/24")
    gone = store.connect("quick", GONE, "gone", ephemeral=ephemeral)
    store.leave(GONE)
    assert _files_name(store, network.network_id)  # no write yet
    assert GONE not in store.get("quick").endpoints and store.networks_of(GONE) == []
    # its address is free for the next container, and the network is unused
    assert store.connect("quick", OTHER, "other", ephemeral=ephemeral).ipv4 == gone.ipv4
    store.disconnect("quick", OTHER)
    store.remove("quick")
    assert store.disconnect_all(GONE) == []  # the network went with the endpoint in it


def test_disconnect_all_writes_a_leaving_container_away_and_forgets_it(store: NetworkStore) -> None:
    network = store.create("kept", subnet="10.78.0.0/24")
    store.connect("kept", GONE, "gone", ephemeral=True)
    store.connect("bridge", GONE, "gone", allocate=False)
    store.leave(GONE)
    assert sorted(store.disconnect_all(GONE)) == ["bridge", "kept"]
    assert not _files_name(store, network.network_id)
    assert not _files_name(store, store.get("bridge").network_id)
    # a container connected again under the same id later (never, ids are random) would count
    store.connect("kept", GONE, "again", allocate=False)
    assert GONE in store.get("kept").endpoints


def test_a_daemon_killed_before_the_write_drops_the_endpoint_as_an_orphan(store: NetworkStore, tmp_path: Any) -> None:
    store.create("net", subnet="10.79.0.0/24")
    store.connect("net", GONE, "gone", ephemeral=True)
    store.connect("net", OTHER, "other")
    store.leave(GONE)
    again = NetworkStore(Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run")), host_routes=lambda: [])
    assert GONE in again.get("net").endpoints  # the next daemon: on disk until the start's clean-up
    assert again.drop_orphans([OTHER]) == [GONE]
    assert sorted(again.get("net").endpoints) == [OTHER]
