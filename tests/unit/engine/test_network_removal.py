"""`network rm` as dockerd does it, against a fake NetworkHost: refused while a running container
is on the network, allowed while only stopped ones are; such a container keeps the attachment in
its record, its next start fails naming the network's id, and `network disconnect` by name lets it
leave the removed network and start again."""
from __future__ import annotations

from typing import Any

import pytest

from rootless.errors import NotFound, PermissionDenied

from tests.unit.engine.test_containers import World, no_backoff, world  # noqa: F401 (fixtures)
from tests.unit.engine.test_default_bridge_details import _stop


def test_a_running_container_keeps_its_network(world: World) -> None:
    world.networks.create("app")
    container = world.run("web", HostConfig={"NetworkMode": "app"})
    with pytest.raises(PermissionDenied, match=r'network app has active endpoints \(name:"web" id:"'):
        world.networks.remove("app")
    _stop(world, container)
    world.networks.remove("app")


def test_a_stopped_container_keeps_the_attachment_and_its_start_fails(world: World) -> None:
    app = world.networks.create("app")
    container = world.run("web", HostConfig={"NetworkMode": "bridge"})
    world.containers.connect_network(container, "app", [], None)
    _stop(world, container)
    world.networks.remove("app")
    networks = world.containers.inspect(container)["NetworkSettings"]["Networks"]
    assert sorted(networks) == ["app", "bridge"] and networks["app"]["NetworkID"] == app.network_id
    world.networks.create("app")  # a new one of the same name is not the one recorded (dockerd: by id)
    expected = f"failed to set up container networking: network {app.network_id} not found"
    with pytest.raises(NotFound) as refused:
        world.containers.start(container)
    assert refused.value.message == expected
    assert not container.running and container.data["State"]["Error"] == expected
    bridge = world.networks.get("bridge")
    assert (bridge.network_id, container.id) not in world.net_host.endpoints  # nothing half-wired stays


def test_disconnect_by_name_lets_it_leave_the_removed_network(world: World) -> None:
    world.networks.create("app")
    container = world.create("web", HostConfig={"NetworkMode": "bridge"})
    world.containers.connect_network(container, "app", [], None)
    world.networks.remove("app")  # created, never started: no endpoint is active
    with pytest.raises(NotFound, match="^network nope not found$"):
        world.containers.disconnect_network(container, "nope", False)
    world.containers.disconnect_network(container, "app", False)
    assert list(container.attachments()) == ["bridge"]
    world.containers.start(container)
    bridge = world.networks.get("bridge")
    assert world.net_host.endpoints[(bridge.network_id, container.id)].ipv4 == "172.17.0.2"


def test_its_own_network_removed_fails_the_start_too(world: World) -> None:
    app = world.networks.create("app")
    container = world.create("web", HostConfig={"NetworkMode": "app"})
    world.networks.remove("app")
    with pytest.raises(NotFound, match=f"network {app.network_id} not found"):
        world.containers.start(container)
