"""Addresses at start: one network-store load tells both whether the container is on the default
bridge and which networks it is on."""
from __future__ import annotations

from typing import Any, List

import pytest

from tests.unit.engine.test_containers import World, no_backoff  # noqa: F401 (autouse fixture)


def count_loads(world: World, monkeypatch: pytest.MonkeyPatch) -> List[int]:
    load = world.networks._load_all
    loads: List[int] = []

    def counting() -> Any:
        loads.append(1)
        return load()

    monkeypatch.setattr(world.networks, "_load_all", counting)
    return loads


def test_a_bridge_container_gets_its_address_with_two_loads(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(str(tmp_path))
    container = world.create("c1", HostConfig={"NetworkMode": "bridge"})
    loads = count_loads(world, monkeypatch)
    assert world.containers.wiring is not None
    world.containers.wiring.assign_addresses(container)
    assert len(loads) == 2  # networks_of, assign_address (a get of the bridge before, once)
    endpoint = world.networks.get("bridge").endpoints[container.id]
    assert endpoint.active and container.attachments()["bridge"]["IPAddress"] == endpoint.ipv4 != ""


def test_a_bridge_container_without_a_bridge_endpoint_gets_one_at_start(tmp_path: Any) -> None:
    world = World(str(tmp_path))
    container = world.create("c1", HostConfig={"NetworkMode": "bridge"})
    world.networks.disconnect("bridge", container.id)  # a record from before the bridge had endpoints
    world.containers.start(container)
    endpoint = world.networks.get("bridge").endpoints[container.id]
    assert endpoint.active and container.attachments()["bridge"]["IPAddress"] == endpoint.ipv4 != ""
