"""Legacy links (engine/links.py) as moby 28 makes them (issue 16)."""
from __future__ import annotations

from typing import Any

import pytest

from rootless.engine import links
from rootless.errors import Internal, InvalidArgument, NotFound

from tests.unit.engine.test_containers import World


@pytest.fixture
def world(tmp_path: Any) -> World:
    return World(str(tmp_path))


def test_parse_link_as_moby() -> None:
    assert links.parse_link("db") == ("db", "db")
    assert links.parse_link("db:data") == ("db", "data")
    assert links.parse_link("/db:/web/data") == ("db", "data")  # as recorded
    for bad, message in (("", "empty string"), ("a:b:c", "bad format")):
        with pytest.raises(InvalidArgument, match=message):
            links.parse_link(bad)


def test_link_env_is_mobys_link_multiple_env() -> None:
    """moby daemon/links/links_test.go TestLinkMultipleEnv, verbatim."""
    actual = links.link_env("/db/docker", "172.0.17.2", ["PASSWORD=gordon"],
                            ["6300/udp", "6379/tcp", "6380/tcp", "6381/tcp", "6382/udp"])
    assert sorted(actual) == [
        "DOCKER_ENV_PASSWORD=gordon", "DOCKER_NAME=/db/docker", "DOCKER_PORT=tcp://172.0.17.2:6379",
        "DOCKER_PORT_6300_UDP=udp://172.0.17.2:6300", "DOCKER_PORT_6300_UDP_ADDR=172.0.17.2",
        "DOCKER_PORT_6300_UDP_PORT=6300", "DOCKER_PORT_6300_UDP_PROTO=udp",
        "DOCKER_PORT_6379_TCP=tcp://172.0.17.2:6379", "DOCKER_PORT_6379_TCP_ADDR=172.0.17.2",
        "DOCKER_PORT_6379_TCP_END=tcp://172.0.17.2:6381", "DOCKER_PORT_6379_TCP_PORT=6379",
        "DOCKER_PORT_6379_TCP_PORT_END=6381", "DOCKER_PORT_6379_TCP_PORT_START=6379",
        "DOCKER_PORT_6379_TCP_PROTO=tcp", "DOCKER_PORT_6379_TCP_START=tcp://172.0.17.2:6379",
        "DOCKER_PORT_6380_TCP=tcp://172.0.17.2:6380", "DOCKER_PORT_6380_TCP_ADDR=172.0.17.2",
        "DOCKER_PORT_6380_TCP_PORT=6380", "DOCKER_PORT_6380_TCP_PROTO=tcp",
        "DOCKER_PORT_6381_TCP=tcp://172.0.17.2:6381", "DOCKER_PORT_6381_TCP_ADDR=172.0.17.2",
        "DOCKER_PORT_6381_TCP_PORT=6381", "DOCKER_PORT_6381_TCP_PROTO=tcp",
        "DOCKER_PORT_6382_UDP=udp://172.0.17.2:6382", "DOCKER_PORT_6382_UDP_ADDR=172.0.17.2",
        "DOCKER_PORT_6382_UDP_PORT=6382", "DOCKER_PORT_6382_UDP_PROTO=udp"]


def test_link_env_skips_home_and_path_and_upper_cases_the_alias() -> None:
    assert links.link_env("/web/my-db", "10.0.0.5", ["HOME=/root", "PATH=/bin", "A=b=c", "NOEQ"], []) == [
        "MY_DB_NAME=/web/my-db", "MY_DB_ENV_A=b=c"]


def test_links_are_checked_and_recorded_at_create(world: World) -> None:
    child = world.create("db", HostConfig={"NetworkMode": "bridge"})
    parent = world.create("web", HostConfig={"NetworkMode": "bridge", "Links": ["db:data"]})
    assert parent.links == ["/db:/web/data"]  # as dockerd records them
    with pytest.raises(InvalidArgument, match="could not get container for nosuch: No such container: nosuch"):
        world.create("w2", HostConfig={"NetworkMode": "bridge", "Links": ["nosuch"]})
    with pytest.raises(InvalidArgument, match="host type networking can't be used with links"):
        world.create("w3", HostConfig={"NetworkMode": "host", "Links": ["db"]})
    assert child.links == []


def test_default_bridge_link_at_start_gives_hosts_and_env(world: World) -> None:
    child = world.create("db", HostConfig={"NetworkMode": "bridge"}, Env=["SECRET=s"],
                         ExposedPorts={"5432/tcp": {}})
    parent = world.create("web", HostConfig={"NetworkMode": "bridge", "Links": ["db:data"]})
    with pytest.raises(Internal, match="^Cannot link to a non running container: /db AS /web/data$"):
        world.containers.links.at_start(parent, {})
    world.containers.start(child)  # an address of its own on the default bridge (issue 10)
    address = world.networks.get("bridge").endpoints[child.id].ipv4
    added = world.containers.links.at_start(parent, {})
    assert added.hosts == (f"{address}\tdata " + child.hostname + " db",)
    assert "DATA_NAME=/web/data" in added.env and "DATA_ENV_SECRET=s" in added.env
    assert f"DATA_PORT=tcp://{address}:5432" in added.env


def test_default_bridge_link_without_an_own_address_is_refused(world: World) -> None:
    child = world.create("db", HostConfig={"NetworkMode": "bridge"})
    parent = world.create("web", HostConfig={"NetworkMode": "bridge", "Links": ["db"]})
    child.set_state("running", Pid=1)
    with pytest.raises(Exception, match="as it does not belong to the default network"):
        world.containers.links.at_start(parent, {})


def test_user_network_link_is_an_alias_in_hosts(world: World) -> None:
    world.networks.create("n1", subnet="10.88.0.0/24")
    child = world.create("db", HostConfig={"NetworkMode": "n1"})
    parent = world.create("web", HostConfig={"NetworkMode": "n1"},
                          NetworkingConfig={"EndpointsConfig": {"n1": {"Links": ["db:store"]}}})
    assert world.containers.links.at_start(parent, {"n1": ["db:store"]}).hosts == ()  # db is not running
    world.containers.start(child)
    address = world.networks.get("n1").endpoints[child.id].ipv4
    added = world.containers.links.at_start(parent, {"n1": ["db:store"]})
    assert added.hosts == (f"{address}\tstore",) and added.env == ()
    view = world.containers.inspect(parent)["NetworkSettings"]["Networks"]["n1"]
    assert view["Links"] == ["db:store"]


def test_rm_link(world: World) -> None:
    world.create("db", HostConfig={"NetworkMode": "bridge"})
    world.create("cache", HostConfig={"NetworkMode": "bridge"})
    parent = world.create("web", HostConfig={"NetworkMode": "bridge", "Links": ["db:data", "cache"]})
    world.containers.remove_link("/web/data")
    assert world.containers.get("web").links == ["/cache:/web/cache"]
    with pytest.raises(NotFound):
        world.containers.remove_link("web/data")  # gone
    with pytest.raises(Internal, match="cannot remove the default link name"):
        world.containers.remove_link("db")
    with pytest.raises(Internal, match="Cannot get parent /nosuch for link name /nosuch/x"):
        world.containers.remove_link("nosuch/x")
    assert parent.links == ["/cache:/web/cache"]
