"""The default bridge's subnet (issue 10): docker's 172.17.0.0/16 unless the host routes it,
an address per container allocated at start and released at stop, and old stores upgraded."""
from __future__ import annotations

import ipaddress
import json
import os

import pytest

from rootless.config import Paths
from rootless.errors import Conflict
from rootless.networks import default_bridge
from rootless.networks.store import NetworkStore, predefined_id

ROUTES = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""


def net(text: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(text)


def test_host_routes_are_read_without_the_default_route() -> None:
    assert default_bridge.parse_routes(ROUTES) == [net("172.17.0.0/16"), net("192.0.2.0/24")]
    assert default_bridge.parse_routes("Iface\nbroken line\n") == []


def test_the_first_of_dockers_pools_not_routed_by_the_host_is_taken() -> None:
    assert default_bridge.choose_subnet([]) == net("172.17.0.0/16")
    assert default_bridge.choose_subnet(default_bridge.parse_routes(ROUTES)) == net("172.18.0.0/16")
    every_172 = [net("172.16.0.0/12")]
    assert default_bridge.choose_subnet(every_172) == net("192.168.0.0/20")
    assert default_bridge.choose_subnet([net("172.16.0.0/12"), net("192.168.0.0/24")]) == net("192.168.16.0/20")


def _store(tmp_path, routes=()) -> NetworkStore:  # type: ignore[no-untyped-def]
    return NetworkStore(Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run")),
                        host_routes=lambda: list(routes))


def test_a_routed_subnet_is_skipped_and_the_choice_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = _store(tmp_path, [net("172.17.0.0/16")])
    assert (store.get("bridge").subnet, store.get("bridge").gateway) == ("172.18.0.0/16", "172.18.0.1")
    # recorded: a route appearing later does not move containers to another subnet
    assert _store(tmp_path, [net("172.18.0.0/16")]).get("bridge").subnet == "172.18.0.0/16"
    with pytest.raises(Conflict, match="overlaps with network bridge"):
        store.create("clash", subnet="172.18.5.0/24")


def test_an_old_store_is_upgraded_from_slirps_fake_subnet(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = _store(tmp_path, [net("172.17.0.0/16")])
    store.create("mine", subnet="172.17.0.0/16")  # a user network on docker's subnet (the host's route is gone)
    path = os.path.join(store.root, f"{predefined_id('bridge')}.json")
    with open(path) as f:
        record = json.load(f)
    record["IPAM"]["Config"] = [{"Subnet": "10.0.2.0/24", "Gateway": "10.0.2.2"}]  # as written before
    record["Containers"] = {"c1": {"Name": "one", "EndpointID": "e" * 64, "IPv4Address": "10.0.2.1/24"}}
    with open(path, "w") as f:
        json.dump(record, f)
    bridge = _store(tmp_path).get("bridge")
    assert (bridge.subnet, bridge.gateway) == ("172.18.0.0/16", "172.18.0.1")  # clear of "mine"
    assert bridge.endpoints["c1"].ipv4 == "" and bridge.endpoints["c1"].name == "one"  # kept, unaddressed
    for legacy in ("", "10.0.2.0/24"):
        assert default_bridge.is_legacy(legacy)
    with open(path) as f:
        record = json.load(f)
    record["IPAM"]["Config"] = []  # none at all
    with open(path, "w") as f:
        json.dump(record, f)
    assert _store(tmp_path).get("bridge").subnet == "172.18.0.0/16"


def test_addresses_come_at_start_and_go_at_stop_unless_given(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = _store(tmp_path)
    store.create("app", subnet="10.50.0.0/24")
    assert store.connect("app", "c1", "one", allocate=False).ipv4 == ""
    assert store.connect("app", "c2", "two", ipv4="10.50.0.2").static  # --ip: reserved from create
    _, first = store.assign_address("app", "c1")
    assert first.ipv4 == "10.50.0.3" and first.prefixlen == 24  # not the reserved one
    assert store.assign_address("app", "c1")[1].ipv4 == "10.50.0.3"  # idempotent
    assert store.release_address("app", "c1") is not None
    assert store.get("app").endpoints["c1"].ipv4 == ""
    assert store.release_address("app", "c2").ipv4 == "10.50.0.2"  # type: ignore[union-attr]  # static: stays
    assert store.get("app").endpoints["c2"].ipv4 == "10.50.0.2"
    assert store.connect("bridge", "c3", "three", allocate=False).ipv4 == ""
    assert store.assign_address("bridge", "c3")[1].ipv4 == "172.17.0.2"


def test_the_own_uplink_modes_are_not_network_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rootless.errors import PermissionDenied
    for name in ("slirp4netns", "pasta"):
        with pytest.raises(PermissionDenied, match="is a network mode"):
            _store(tmp_path).create(name)
