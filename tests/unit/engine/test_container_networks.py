"""The engine wires the default bridge like a user network (issue 10), against a fake NetworkHost:
an address at start, released at stop, no DNS names on the bridge, ports through the shared
namespace, and the host-loopback opt-in."""
from __future__ import annotations

import os
from typing import Any

import pytest

from rootless.errors import InvalidArgument

from tests.unit.engine.test_containers import World, eventually, no_backoff  # noqa: F401 (autouse fixture)


@pytest.fixture
def world(tmp_path: Any) -> World:
    return World(str(tmp_path))


def _stop(world: World, container: Any) -> None:
    world.runtime.exit(container.id, 0)
    eventually(lambda: not container.running and not world.networks.get("bridge").endpoints[container.id].ipv4)


def test_bridge_containers_get_their_own_addresses_and_release_them_at_stop(world: World) -> None:
    first = world.run("one", HostConfig={"NetworkMode": "default"})
    second = world.run("two", HostConfig={"NetworkMode": "bridge", "PortBindings": {"80/tcp": [{}]}})
    addresses = [world.containers.inspect(c)["NetworkSettings"]["IPAddress"] for c in (first, second)]
    assert addresses == ["172.17.0.2", "172.17.0.3"]
    bridge = world.networks.get("bridge")
    spec = world.net_host.endpoints[(bridge.network_id, first.id)]
    assert spec.names == () and spec.default_route and not spec.host_loopback  # docker's bridge: no names
    assert world.net_host.bridges[bridge.network_id].subnet == "172.17.0.0/16"
    assert [p.container_ip for p in world.net_host.forwards] == ["172.17.0.3"]  # -p through the shared netns
    assert world.containers.inspect(second)["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] == "40001"
    with open(os.path.join(first.etc_dir, "resolv.conf")) as f:
        assert f.read() == "nameserver 172.17.0.1\n"  # its responder, which forwards every name
    _stop(world, first)
    body = world.containers.inspect(first)["NetworkSettings"]
    assert body["IPAddress"] == "" and body["Networks"]["bridge"]["IPAddress"] == ""
    assert (bridge.network_id, first.id) not in world.net_host.endpoints
    _stop(world, second)
    assert world.net_host.forwards == []
    third = world.run("three", HostConfig={"NetworkMode": "bridge"})
    assert world.containers.inspect(third)["NetworkSettings"]["IPAddress"] == "172.17.0.2"  # reused


def test_a_given_address_stays_reserved_while_stopped(world: World) -> None:
    world.networks.create("app", subnet="10.93.0.0/24")
    fixed = world.run("fixed", HostConfig={"NetworkMode": "app"},
                      NetworkingConfig={"EndpointsConfig": {"app": {"IPAMConfig": {"IPv4Address": "10.93.0.2"}}}})
    world.runtime.exit(fixed.id, 0)
    eventually(lambda: not fixed.running)
    other = world.run("other", HostConfig={"NetworkMode": "app"})
    assert other.attachments()["app"]["IPAddress"] == "10.93.0.3"
    world.containers.start(fixed)
    assert world.containers.inspect(fixed)["NetworkSettings"]["Networks"]["app"]["IPAddress"] == "10.93.0.2"


def test_an_address_or_alias_on_the_default_bridge_is_refused_as_dockerd_does(world: World) -> None:
    with pytest.raises(InvalidArgument, match="supported on user defined networks only"):
        world.create(HostConfig={"NetworkMode": "bridge"},
                     NetworkingConfig={"EndpointsConfig": {"bridge": {"IPAMConfig": {"IPv4Address": "172.17.0.9"}}}})
    with pytest.raises(InvalidArgument, match="alias is supported only for containers in user defined"):
        world.create(HostConfig={"NetworkMode": "default"},
                     NetworkingConfig={"EndpointsConfig": {"default": {"Aliases": ["db"]}}})


def test_host_gateway_opts_the_endpoint_in_to_the_hosts_loopback(world: World) -> None:
    container = world.run("gw", HostConfig={"NetworkMode": "bridge",
                                            "ExtraHosts": ["host.docker.internal:host-gateway"]})
    bridge = world.networks.get("bridge")
    assert world.net_host.endpoints[(bridge.network_id, container.id)].host_loopback
    with open(os.path.join(container.etc_dir, "hosts")) as f:
        assert "10.0.2.2\thost.docker.internal\n" in f.read()


def test_a_bridge_container_from_before_gets_an_endpoint_at_start(world: World) -> None:
    container = world.create("old", HostConfig={"NetworkMode": "bridge"})
    world.networks.disconnect("bridge", container.id)  # as created when the bridge had no endpoints
    container.set_attachment("bridge", {})
    world.containers.start(container)
    assert world.networks.get("bridge").endpoints[container.id].ipv4 == "172.17.0.2"
    assert container.attachments()["bridge"]["IPAddress"] == "172.17.0.2"


def test_own_uplinks_are_recorded_by_name_and_their_options_checked_at_create(world: World) -> None:
    container = world.run("own", HostConfig={"NetworkMode": "slirp4netns:allow_host_loopback=true"})
    assert list(container.attachments()) == ["slirp4netns"]
    process = world.runtime.processes[container.id]
    assert (process.monitor.network, process.monitor.allow_host_loopback) == ("slirp4netns", True)
    assert world.containers.inspect(container)["NetworkSettings"]["IPAddress"] == "10.0.2.100"
    assert world.net_host.endpoints == {}
    with pytest.raises(InvalidArgument, match="unknown slirp4netns option"):
        world.create(HostConfig={"NetworkMode": "slirp4netns:cidr=10.5.0.0/24"})
    pasta = world.run("pasta", HostConfig={"NetworkMode": "pasta"})
    assert world.runtime.processes[pasta.id].monitor.network == "pasta"
