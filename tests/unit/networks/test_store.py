from __future__ import annotations

import json
import os
import re

import pytest

from rootless.config.paths import Paths
from rootless.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from rootless.networks import NetworkStore

NETWORK_KEYS = {"Name", "Id", "Created", "Scope", "Driver", "EnableIPv4", "EnableIPv6", "IPAM", "Internal",
                "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels"}


@pytest.fixture()
def store(tmp_path) -> NetworkStore:
    return NetworkStore(Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run")), host_routes=lambda: [])


def names(networks) -> list:
    return [n.name for n in networks]


def test_predefined_networks_exist_with_stable_ids(store: NetworkStore, tmp_path) -> None:
    assert names(store.list()) == ["bridge", "host", "none"]
    assert [n.driver for n in store.list()] == ["bridge", "host", "null"]
    bridge = store.get("bridge").to_json()
    assert bridge["IPAM"]["Config"] == [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]  # docker's
    assert store.get("host").to_json()["IPAM"]["Config"] == []
    other = NetworkStore(Paths(root=str(tmp_path / "other"), run=str(tmp_path / "run")))
    assert other.get("bridge").network_id == bridge["Id"]


def test_create_allocates_subnets_in_order(store: NetworkStore) -> None:
    first = store.create("one", labels={"a": "b"})
    second = store.create("two")
    doc = first.to_json()
    assert set(doc) == NETWORK_KEYS
    assert re.match(r"^[0-9a-f]{64}$", doc["Id"])
    assert doc["IPAM"] == {"Driver": "default", "Options": None,
                           "Config": [{"Subnet": "10.89.0.0/24", "Gateway": "10.89.0.1"}]}
    assert doc["Labels"] == {"a": "b"} and doc["Scope"] == "local" and doc["Containers"] == {}
    assert second.subnet == "10.89.1.0/24"
    with open(os.path.join(store.root, f"{first.network_id}.json")) as f:
        assert json.load(f)["Name"] == "one"


def test_create_with_subnet_and_gateway(store: NetworkStore) -> None:
    network = store.create("n1", subnet="172.30.0.0/16", gateway="172.30.0.254", internal=True)
    assert (network.subnet, network.gateway, network.internal) == ("172.30.0.0/16", "172.30.0.254", True)
    with pytest.raises(Conflict, match="overlaps with network n1"):
        store.create("n2", subnet="172.30.5.0/24")
    with pytest.raises(InvalidArgument, match="invalid gateway"):
        store.create("n3", subnet="10.7.0.0/24", gateway="10.8.0.1")


def test_create_refusals(store: NetworkStore) -> None:
    store.create("dup")
    with pytest.raises(AlreadyExists, match="^network with name dup already exists$"):
        store.create("dup")
    with pytest.raises(PermissionDenied, match="predefined bridge"):
        store.create("bridge")
    with pytest.raises(PermissionDenied, match='only one instance of "host"'):
        store.create("myhost", driver="host")
    with pytest.raises(InvalidArgument, match="not supported"):
        store.create("mv", driver="macvlan")
    with pytest.raises(InvalidArgument, match="^invalid name: name is empty$"):
        store.create(" ")
    with pytest.raises(InvalidArgument, match="control characters"):
        store.create("a\tb")


def test_get_by_name_id_and_prefix(store: NetworkStore) -> None:
    network = store.create("web")
    assert store.get("web").network_id == network.network_id
    assert store.get(network.network_id).name == "web"
    assert store.get(network.network_id[:12]).name == "web"
    with pytest.raises(NotFound, match="^network nope not found$"):
        store.get("nope")


def test_list_filters(store: NetworkStore) -> None:
    web = store.create("web", labels={"tier": "front"})
    store.create("db", labels={"tier": "back"})
    store.connect("db", "c1", "dbc")
    assert sorted(names(store.list({"type": ["custom"]}))) == ["db", "web"]
    assert names(store.list({"type": ["builtin"]})) == ["bridge", "host", "none"]
    assert names(store.list({"name": ["we"]})) == ["web"]
    assert names(store.list({"id": [web.network_id[:10]]})) == ["web"]
    assert names(store.list({"label": ["tier=back"]})) == ["db"]
    assert names(store.list({"driver": ["null"]})) == ["none"]
    assert names(store.list({"dangling": ["true"]})) == ["web"]
    with pytest.raises(InvalidArgument, match="invalid filter 'color'"):
        store.list({"color": ["x"]})
    with pytest.raises(InvalidArgument, match="type"):
        store.list({"type": ["weird"]})


def test_remove(store: NetworkStore) -> None:
    network = store.create("gone")
    store.remove("gone")
    assert not os.path.exists(os.path.join(store.root, f"{network.network_id}.json"))
    with pytest.raises(NotFound):
        store.remove("gone")
    with pytest.raises(PermissionDenied, match="pre-defined"):
        store.remove("none")


def test_remove_with_active_endpoints_is_refused_in_dockerds_words(store: NetworkStore) -> None:
    store.create("busy")
    endpoint = store.connect("busy", "c1", "one")  # allocated: a running container's
    with pytest.raises(PermissionDenied) as refused:
        store.remove("busy")
    assert refused.value.message == ("error while removing network: network busy has active endpoints "
                                     f'(name:"one" id:"{endpoint.endpoint_id[:12]}")')
    store.disconnect("busy", "c1")
    store.remove("busy")


def test_stopped_containers_endpoints_do_not_keep_a_network_in_use(store: NetworkStore) -> None:
    """dockerd has endpoints for running containers only: rm, prune and dangling see none for the others."""
    for name in ("idle", "pruned"):
        store.create(name)
        store.connect(name, "c1", "one", allocate=False)  # created, not started
    store.create("stopped")
    store.connect("stopped", "c2", "two")
    store.release_address("stopped", "c2")  # its container stopped
    assert sorted(names(store.list({"dangling": ["true"]}))) == ["idle", "pruned", "stopped"]
    store.remove("idle")
    assert sorted(store.prune()) == ["pruned", "stopped"]


def test_connect_allocates_addresses_and_keeps_aliases(store: NetworkStore) -> None:
    store.create("app")
    first = store.connect("app", "c1", "one", aliases=["a", "a", "b"])
    second = store.connect("app", "c2", "two")
    assert (first.ipv4, first.prefixlen, first.aliases) == ("10.89.0.2", 24, ["a", "b"])
    assert second.ipv4 == "10.89.0.3"
    entry = store.get("app").to_json()["Containers"]["c1"]
    assert entry == {"Name": "one", "EndpointID": first.endpoint_id, "MacAddress": "02:42:0a:59:00:02",
                     "IPv4Address": "10.89.0.2/24", "IPv6Address": ""}
    assert store.get("app").endpoints["c1"].aliases == ["a", "b"]  # kept on disk
    with pytest.raises(Conflict, match="already exists in network app"):
        store.connect("app", "c1", "one")


def test_connect_explicit_address(store: NetworkStore) -> None:
    store.create("app", subnet="10.50.0.0/24")
    assert store.connect("app", "c1", "one", ipv4="10.50.0.9").ipv4 == "10.50.0.9"
    with pytest.raises(Conflict, match="already in use"):
        store.connect("app", "c2", "two", ipv4="10.50.0.9")
    with pytest.raises(InvalidArgument):
        store.connect("app", "c3", "three", ipv4="10.60.0.9")
    # the default bridge is a real network now: its addresses are unique too
    store.connect("bridge", "c4", "four", ipv4="172.17.0.9")
    with pytest.raises(Conflict, match="already in use"):
        store.connect("bridge", "c5", "five", ipv4="172.17.0.9")


def test_host_and_none_are_exclusive(store: NetworkStore) -> None:
    store.create("app")
    store.connect("host", "c1", "one")
    with pytest.raises(Conflict, match="host network"):
        store.connect("app", "c1", "one")
    store.connect("app", "c2", "two")
    with pytest.raises(Conflict):
        store.connect("none", "c2", "two")
    assert store.connect("none", "c3", "three").ipv4 == ""


def test_disconnect_and_disconnect_all(store: NetworkStore) -> None:
    store.create("x1")
    store.create("x2")
    store.connect("x1", "c1", "one")
    store.connect("x2", "c1", "one")
    assert names(store.networks_of("c1")) == ["x1", "x2"]
    with pytest.raises(FailedPrecondition, match="not connected"):
        store.disconnect("x1", "c9")
    store.disconnect("x1", "c9", force=True)
    store.disconnect("x1", "c1")
    assert store.disconnect_all("c1") == ["x2"]
    assert store.networks_of("c1") == []


def test_prune_removes_unused_custom_networks(store: NetworkStore) -> None:
    store.create("used")
    store.create("idle", labels={"k": "v"})
    store.create("idle2")
    store.connect("used", "c1", "one")
    assert sorted(store.prune({"label": ["k"]})) == ["idle"]
    assert store.prune({"until": ["2000-01-01T00:00:00Z"]}) == []  # created after: kept
    with pytest.raises(InvalidArgument, match="invalid filter 'dangling'"):
        store.prune({"dangling": ["true"]})  # a key prune does not know is refused, not ignored
    assert store.prune({"label!": ["k"], "until": ["0s"]}) == ["idle2"]
    assert names(store.list({"type": ["custom"]})) == ["used"]


# -- issue 16: IPv6, names, endpoint details ---------------------------------------------
def test_ipv6_network_has_both_subnets_and_endpoints_get_both_addresses(store: NetworkStore) -> None:
    from rootless.networks.store import EndpointDetails
    network = store.create("v6", subnet="10.92.0.0/24", ipv6=True, subnet6="2001:db8::/64")
    doc = store.get("v6").to_json()
    assert doc["EnableIPv6"] is True
    assert doc["IPAM"]["Config"] == [{"Subnet": "10.92.0.0/24", "Gateway": "10.92.0.1"},
                                     {"Subnet": "2001:db8::/64", "Gateway": "2001:db8::1"}]
    first = store.connect("v6", "c1", "one")
    assert (first.ipv4, first.ipv6, first.prefixlen6) == ("10.92.0.2", "2001:db8::2", 64)
    second = store.connect("v6", "c2", "two", details=EndpointDetails(ipv6="2001:db8::99"))
    assert second.ipv6 == "2001:db8::99"
    with pytest.raises(Conflict, match="already in use"):
        store.connect("v6", "c3", "three", details=EndpointDetails(ipv6="2001:db8::99"))
    with pytest.raises(InvalidArgument, match="not a host address"):
        store.connect("v6", "c3", "three", details=EndpointDetails(ipv6="2001:db9::5"))
    containers = store.get(network.network_id).to_json()["Containers"]
    assert containers["c1"]["IPv6Address"] == "2001:db8::2/64"
    assert containers["c2"]["IPv6Address"] == "2001:db8::99/64"  # survived the round trip through the file


def test_ipv6_subnet_is_allocated_and_needs_enable_ipv6(store: NetworkStore) -> None:
    assert store.create("auto6", ipv6=True).subnet6 == "fd89:89::/64"
    assert store.create("auto6b", ipv6=True).subnet6 == "fd89:89:0:1::/64"
    with pytest.raises(Conflict, match="overlaps"):
        store.create("clash", ipv6=True, subnet6="fd89:89::/56")
    with pytest.raises(InvalidArgument, match="IPv6 is not enabled"):
        store.create("nov6", subnet6="2001:db8::/64")
    plain = store.create("v4only")
    assert plain.subnet6 == "" and plain.to_json()["EnableIPv6"] is False
    with pytest.raises(InvalidArgument, match="no IPv6 subnet"):
        from rootless.networks.store import EndpointDetails
        store.connect("v4only", "c1", "one", details=EndpointDetails(ipv6="2001:db8::5"))


@pytest.mark.parametrize("name", ["my net", "a/b", "x:y", "ü", "-lead", " padded "])
def test_names_dockerd_takes_are_taken(store: NetworkStore, name: str) -> None:
    network = store.create(name)
    assert store.get(name).network_id == network.network_id
    store.remove(name)


def test_endpoint_details_are_kept(store: NetworkStore) -> None:
    from rootless.networks.store import EndpointDetails
    store.create("d1")
    details = EndpointDetails(mac="02:AA:bb:cc:dd:ee", ipam_config={"IPv4Address": "10.89.0.9"},
                              driver_opts={"k": "v"}, links=["web:w"])
    endpoint = store.connect("d1", "c1", "one", ipv4="10.89.0.9", details=details)
    assert endpoint.mac_address == "02:aa:bb:cc:dd:ee"
    kept = store.get("d1").endpoints["c1"]
    assert (kept.mac, kept.ipam_config, kept.driver_opts, kept.links) == (
        "02:aa:bb:cc:dd:ee", {"IPv4Address": "10.89.0.9"}, {"k": "v"}, ["web:w"])
    assert store.get("d1").to_json()["Containers"]["c1"]["MacAddress"] == "02:aa:bb:cc:dd:ee"
    derived = store.connect("d1", "c2", "two")
    assert derived.mac == "" and derived.mac_address == "02:42:0a:59:00:02"
    with pytest.raises(InvalidArgument, match="invalid MAC"):
        store.connect("d1", "c3", "three", details=EndpointDetails(mac="nope"))
    assert "c3" not in store.get("d1").endpoints


def test_ip_range_gives_dynamic_addresses_static_anywhere_in_subnet(store: NetworkStore, tmp_path) -> None:
    store.create("ranged", subnet="10.70.0.0/16", ip_range="10.70.5.0/24")
    assert store.get("ranged").to_json()["IPAM"]["Config"] == [
        {"Subnet": "10.70.0.0/16", "Gateway": "10.70.0.1", "IPRange": "10.70.5.0/24"}]
    assert store.connect("ranged", "c1", "one").ipv4 == "10.70.5.0"
    assert store.connect("ranged", "c2", "two", ipv4="10.70.9.9").ipv4 == "10.70.9.9"
    assert store.connect("ranged", "c3", "three").ipv4 == "10.70.5.1"
    reopened = NetworkStore(Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run")), host_routes=lambda: [])
    assert reopened.get("ranged").ip_range == "10.70.5.0/24"  # kept on disk


def test_ip_range_outside_the_subnet_is_refused_and_not_stored(store: NetworkStore) -> None:
    with pytest.raises(InvalidArgument, match="invalid ip-range 10.71.0.0/24: it must be a subset of subnet 10.70.0.0/16"):
        store.create("bad", subnet="10.70.0.0/16", ip_range="10.71.0.0/24")
    assert "bad" not in names(store.list())
