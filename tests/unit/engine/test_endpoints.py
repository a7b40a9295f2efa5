"""Issue 16: endpoint details, unknown networks at create, disconnect answers, MAC rules (engine/endpoints.py)."""
from __future__ import annotations

import os
from typing import Any

import pytest

from rootless.api import types
from rootless.api.decode import decode_body
from rootless.engine import endpoints
from rootless.errors import Internal, InvalidArgument, NotFound

from tests.unit.engine.test_containers import World


@pytest.fixture
def world(tmp_path: Any) -> World:
    return World(str(tmp_path))


def settings(**body: Any) -> types.EndpointSettings:
    return decode_body(types.EndpointSettings, body)


def test_details_of_a_request() -> None:
    details = endpoints.details_of(settings(IPAMConfig={"IPv4Address": "10.1.0.5", "IPv6Address": "2001:db8::5"},
                                            MacAddress="02:00:00:00:00:01", DriverOpts={"a": "b"}, Links=["w:x"]))
    assert details.ipv6 == "2001:db8::5" and details.mac == "02:00:00:00:00:01"
    assert details.ipam_config == {"IPv4Address": "10.1.0.5", "IPv6Address": "2001:db8::5"}
    assert dict(details.driver_opts) == {"a": "b"} and list(details.links) == ["w:x"]
    assert endpoints.details_of(settings(), "02:00:00:00:00:02").mac == "02:00:00:00:00:02"  # API < 1.44


def test_details_of_refuses_what_is_not_applied() -> None:
    with pytest.raises(InvalidArgument, match="must match the endpoint-specific MAC"):
        endpoints.details_of(settings(MacAddress="02:00:00:00:00:01"), "02:00:00:00:00:02")
    with pytest.raises(InvalidArgument, match="sysctls"):
        endpoints.details_of(settings(DriverOpts={endpoints.SYSCTLS_OPT: "net.ipv4.x=1"}))


def test_not_connected_answers_as_dockerd() -> None:
    stopped = endpoints.not_connected("abc", "n1", running=False, force=True, name="c1")
    assert isinstance(stopped, Internal) and stopped.message == "container abc is not connected to the network n1"
    running = endpoints.not_connected("abc", "n1", running=True, force=False, name="c1")
    assert isinstance(running, Internal) and running.message == "container abc is not connected to network n1"
    forced = endpoints.not_connected("abc", "n1", running=True, force=True, name="c1")
    assert isinstance(forced, NotFound) and forced.message == "endpoint c1 not found"


def test_an_unknown_network_in_endpoints_config_is_refused_and_nothing_stored(world: World) -> None:
    world.networks.create("known", subnet="10.93.0.0/24")
    before = sorted(os.listdir(world.paths.containers)) if os.path.isdir(world.paths.containers) else []
    with pytest.raises(NotFound, match="^network nosuch not found$"):
        world.create("c1", HostConfig={"NetworkMode": "known"},
                     NetworkingConfig={"EndpointsConfig": {"known": {}, "nosuch": {}}})
    after = sorted(os.listdir(world.paths.containers)) if os.path.isdir(world.paths.containers) else []
    assert after == before and world.networks.get("known").endpoints == {}
    assert world.actions() == []


def test_more_user_networks_at_create_are_connected(world: World) -> None:
    world.networks.create("n1", subnet="10.94.0.0/24")
    world.networks.create("n2", subnet="10.95.0.0/24", ipv6=True, subnet6="2001:db8:95::/64")
    container = world.create("c1", HostConfig={"NetworkMode": "n1"}, NetworkingConfig={"EndpointsConfig": {
        "n1": {"Aliases": ["a1"]}, "n2": {"IPAMConfig": {"IPv6Address": "2001:db8:95::7"}, "Aliases": ["a2"]}}})
    assert sorted(container.attachments()) == ["n1", "n2"]
    assert world.networks.get("n2").endpoints[container.id].ipv6 == "2001:db8:95::7"
    view = world.containers.inspect(container)["NetworkSettings"]["Networks"]
    assert view["n2"]["IPAMConfig"] == {"IPv6Address": "2001:db8:95::7"} and view["n2"]["Aliases"] == ["a2"]
    assert view["n2"]["GlobalIPv6Address"] == ""  # addresses while it runs, as dockerd


def test_a_failed_second_endpoint_leaves_no_first_one(world: World) -> None:
    world.networks.create("n1", subnet="10.96.0.0/24")
    world.networks.create("n2", subnet="10.97.0.0/24")
    with pytest.raises(InvalidArgument):
        world.create("c1", HostConfig={"NetworkMode": "n1"}, NetworkingConfig={"EndpointsConfig": {
            "n1": {}, "n2": {"IPAMConfig": {"IPv4Address": "10.1.1.1"}}}})
    assert world.networks.get("n1").endpoints == {} and world.networks.get("n2").endpoints == {}


def test_mac_address_is_recorded_and_refused_where_not_applied(world: World) -> None:
    world.networks.create("n1", subnet="10.98.0.0/24")
    container = world.create("c1", HostConfig={"NetworkMode": "n1"}, MacAddress="02:42:ac:11:00:99")
    view = world.containers.inspect(container)["NetworkSettings"]["Networks"]["n1"]
    assert view["MacAddress"] == "02:42:ac:11:00:99"  # the configured one, even stopped
    assert world.networks.get("n1").endpoints[container.id].mac == "02:42:ac:11:00:99"
    with pytest.raises(InvalidArgument, match="conflicting options: mac-address and the network mode"):
        world.create("c2", HostConfig={"NetworkMode": "host"}, MacAddress="02:42:ac:11:00:98")
    # the default bridge is a bridge of the shared namespace too (issue 10): the MAC is set on its veth
    on_bridge = world.create("c3", HostConfig={"NetworkMode": "bridge"},
                             NetworkingConfig={"EndpointsConfig": {"bridge": {"MacAddress": "02:42:ac:11:00:97"}}})
    assert world.networks.get("bridge").endpoints[on_bridge.id].mac == "02:42:ac:11:00:97"


def test_host_mode_with_a_user_network_is_refused(world: World) -> None:
    world.networks.create("n1", subnet="10.99.0.0/24")
    with pytest.raises(InvalidArgument, match="connected to host network"):
        world.create("c1", HostConfig={"NetworkMode": "host"}, NetworkingConfig={"EndpointsConfig": {"n1": {}}})


def test_a_container_joining_anothers_network_takes_no_endpoint_options(world: World) -> None:
    world.networks.create("n1", subnet="10.87.0.0/24")
    world.create("base", HostConfig={"NetworkMode": "n1"})
    with pytest.raises(InvalidArgument, match="cannot be connected to any other network"):
        world.create("j1", HostConfig={"NetworkMode": "container:base"},
                     NetworkingConfig={"EndpointsConfig": {"n1": {}}})
    with pytest.raises(InvalidArgument, match="conflicting options: mac-address and the network mode"):
        world.create("j2", HostConfig={"NetworkMode": "container:base"},
                     NetworkingConfig={"EndpointsConfig": {"container:base": {"MacAddress": "02:42:ac:11:00:05"}}})
