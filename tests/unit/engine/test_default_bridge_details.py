"""The default bridge's endpoints as dockerd keeps them (issues 10, 16), against a fake NetworkHost:
`network inspect` lists running containers only, `network disconnect bridge` takes the veth and
the published ports at once, an address or alias on connect to bridge is refused, and IPv6
addresses are released at stop like the IPv4 ones unless given (--ip6)."""
from __future__ import annotations

from typing import Any

import pytest

from rootless.api import types
from rootless.engine import endpoints
from rootless.errors import InvalidArgument

from tests.unit.engine.test_containers import World, eventually, no_backoff  # noqa: F401 (autouse fixture)


@pytest.fixture
def world(tmp_path: Any) -> World:
    return World(str(tmp_path))


def _stop(world: World, container: Any) -> None:
    world.runtime.exit(container.id, 0)
    eventually(lambda: not container.running)


def _listed(world: World, network: str) -> Any:
    return world.networks.get(network).to_json()["Containers"]


def test_network_inspect_lists_only_running_containers(world: World) -> None:
    container = world.run("one", HostConfig={"NetworkMode": "bridge"})
    assert _listed(world, "bridge")[container.id]["IPv4Address"] == "172.17.0.2/16"
    _stop(world, container)
    assert container.id not in _listed(world, "bridge")
    assert container.id in world.networks.get("bridge").endpoints  # still on it: back at start
    world.containers.start(container)
    assert container.id in _listed(world, "bridge")
    created = world.create("two", HostConfig={"NetworkMode": "bridge"})
    assert created.id not in _listed(world, "bridge")


def test_disconnect_bridge_of_a_running_container_takes_veth_and_ports(world: World) -> None:
    container = world.run("web", HostConfig={"NetworkMode": "bridge", "PortBindings": {"80/tcp": [{}]}})
    bridge = world.networks.get("bridge")
    assert world.net_host.forwards and (bridge.network_id, container.id) in world.net_host.endpoints
    world.containers.disconnect_network(container, "bridge", False)
    assert (bridge.network_id, container.id) not in world.net_host.endpoints
    assert world.net_host.forwards == []  # nothing forwards to an address another container may get
    assert "bridge" not in container.attachments() and container.id not in world.networks.get("bridge").endpoints
    _stop(world, container)
    world.containers.start(container)  # no network but its loopback, as from dockerd
    assert (bridge.network_id, container.id) not in world.net_host.endpoints
    world.containers.connect_network(container, "bridge", [], None)
    assert world.net_host.endpoints[(bridge.network_id, container.id)].ipv4 == "172.17.0.2"


def test_disconnect_bridge_of_a_stopped_container_then_connect_back(world: World) -> None:
    container = world.create("idle", HostConfig={"NetworkMode": "bridge"})
    world.containers.disconnect_network(container, "bridge", False)
    assert container.attachments() == {}
    world.containers.connect_network(container, "bridge", [], None)
    world.containers.start(container)
    assert world.containers.inspect(container)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] == "172.17.0.2"


def test_an_address_or_alias_on_connect_to_bridge_is_refused_in_dockerds_words() -> None:
    given = types.EndpointSettings(IPAMConfig=types.EndpointIPAMConfig(IPv4Address="172.17.0.9"))
    with pytest.raises(InvalidArgument, match="^user specified IP address is supported on user defined networks only"):
        endpoints.check_user_defined("bridge", given)
    given6 = types.EndpointSettings(IPAMConfig=types.EndpointIPAMConfig(IPv6Address="fd00::9"))
    with pytest.raises(InvalidArgument, match="user specified IP address"):
        endpoints.check_user_defined("bridge", given6)
    with pytest.raises(InvalidArgument, match="^network-scoped alias is supported only for containers in user"):
        endpoints.check_user_defined("bridge", types.EndpointSettings(Aliases=["db"]))
    endpoints.check_user_defined("app", given)  # a user network takes both


def test_ipv6_addresses_are_released_at_stop_unless_given(world: World) -> None:
    world.networks.create("six", subnet="10.94.0.0/24", ipv6=True, subnet6="fd94::/64")
    free = world.run("free", HostConfig={"NetworkMode": "six"})
    fixed = world.run("fixed", HostConfig={"NetworkMode": "six"}, NetworkingConfig={"EndpointsConfig": {
        "six": {"IPAMConfig": {"IPv6Address": "fd94::99"}}}})
    assert world.networks.get("six").endpoints[free.id].ipv6 == "fd94::2"
    _stop(world, free)
    _stop(world, fixed)
    six = world.networks.get("six")
    assert six.endpoints[free.id].ipv6 == "" and six.endpoints[fixed.id].ipv6 == "fd94::99"
    assert free.attachments()["six"]["GlobalIPv6Address"] == ""
    assert fixed.attachments()["six"]["GlobalIPv6Address"] == "fd94::99"
    other = world.run("other", HostConfig={"NetworkMode": "six"})
    assert world.networks.get("six").endpoints[other.id].ipv6 == "fd94::2"  # the released one


def test_an_ipv6_address_at_create_on_bridge_is_refused_in_dockerds_words(world: World) -> None:
    with pytest.raises(InvalidArgument, match="^user specified IP address is supported on user defined networks"):
        world.create(HostConfig={"NetworkMode": "bridge"},
                     NetworkingConfig={"EndpointsConfig": {"bridge": {"IPAMConfig": {"IPv6Address": "fd00::9"}}}})
