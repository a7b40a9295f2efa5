"""NetworkSettings.Ports after `network disconnect` of a running container, against a fake
NetworkHost: the ports published through the network that left are gone from inspect and the
container list at once (dockerd rebuilds Ports from the endpoints left), the others stay."""
from __future__ import annotations

from typing import Any, Dict, List

from tests.unit.engine.test_containers import World, no_backoff, world  # noqa: F401 (fixtures)


def _bindings(world: World, container: Any) -> Dict[str, Any]:
    ports: Dict[str, Any] = world.containers.inspect(container)["NetworkSettings"]["Ports"]
    return {key: value for key, value in ports.items() if value}


def _listed_ports(world: World, container: Any) -> List[Any]:
    """The container's Ports in GET /containers/json (docker ps)."""
    return list(world.containers.summary(container)["Ports"])


def test_disconnecting_the_network_that_carried_the_ports_unpublishes_them_in_inspect(world: World) -> None:
    container = world.run("web", HostConfig={"NetworkMode": "bridge", "PortBindings": {"80/tcp": [{}]}})
    world.networks.create("app")
    world.containers.connect_network(container, "app", [], None)
    assert list(_bindings(world, container)) == ["80/tcp"] and _listed_ports(world, container)
    world.containers.disconnect_network(container, "app", False)  # not the ports' network: they stay
    assert list(_bindings(world, container)) == ["80/tcp"] and world.net_host.forwards
    world.containers.disconnect_network(container, "bridge", False)
    assert world.net_host.forwards == []
    assert _bindings(world, container) == {} and _listed_ports(world, container) == []
    world.daemon_start()  # what the record says, not what a daemon remembered
    again = world.containers.get("web")
    assert _bindings(world, again) == {}
