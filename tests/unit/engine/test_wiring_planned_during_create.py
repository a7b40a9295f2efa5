"""The start plans its networks' wiring (a store read, the bridges, the veths' specs) while
`crun create` runs (the runtime's while_creating, engine/containers.py _WiringAhead), so
that between `crun create` and `crun start` only the veths are made (bench/README.md "Run
path, session 12"). A planning failure fails the start as a wiring failure did: the created
container is killed and the error reported."""
from __future__ import annotations

import signal
from typing import Any, List

import pytest

from rootless.errors import ToolError
from tests.unit.engine.test_containers import World


def _trace(world: World, monkeypatch: pytest.MonkeyPatch) -> List[str]:
    events: List[str] = []
    launch, start = world.runtime.launch, world.runtime.start
    networks_of, create_bridge, attach = world.networks.networks_of, world.net_host.create_bridge, world.net_host.attach

    def traced_launch(*args: Any, **kwargs: Any) -> Any:
        events.append("launch")
        try:
            return launch(*args, **kwargs)
        finally:
            events.append("created")

    monkeypatch.setattr(world.runtime, "launch", traced_launch)
    monkeypatch.setattr(world.runtime, "start", lambda cid: (events.append("crun start"), start(cid)))
    monkeypatch.setattr(world.networks, "networks_of", lambda cid: (events.append("store"), networks_of(cid))[1])
    monkeypatch.setattr(world.net_host, "create_bridge", lambda spec: (events.append("bridge"), create_bridge(spec)))
    monkeypatch.setattr(world.net_host, "attach", lambda path, spec: (events.append("veth"), attach(path, spec))[1])
    return events


def test_only_the_veths_are_left_between_crun_create_and_crun_start(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(str(tmp_path))
    world.networks.create("net1", subnet="10.91.0.0/24")
    container = world.create("two", HostConfig={"NetworkMode": "net1"})
    world.containers.connect_network(container, "bridge", [], None)
    events = _trace(world, monkeypatch)
    world.containers.start(container)
    between = events[events.index("created"):events.index("crun start")]
    assert between == ["created", "veth", "veth"]
    assert "store" in events[events.index("launch"):events.index("created")]  # planned while crun create ran
    wired = world.containers.inspect(container)["NetworkSettings"]["Networks"]
    assert wired["net1"]["IPAddress"] and wired["bridge"]["IPAddress"]
    net1 = world.networks.get("net1").network_id
    # the NetworkMode network first, as eth0; each its own interface, as planned ahead
    assert sorted((spec.interface, spec.default_route) for spec in world.net_host.endpoints.values()) == [
        ("eth0", True), ("eth1", False)]
    assert world.net_host.endpoints[(net1, container.id)].interface == "eth0"


def test_a_plan_that_fails_fails_the_start_and_kills_the_created_container(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(str(tmp_path))
    world.networks.create("net1", subnet="10.92.0.0/24")
    container = world.create("broken", HostConfig={"NetworkMode": "net1"})

    def refused(spec: Any) -> None:
        raise ToolError("nft", "add element: no such table")

    monkeypatch.setattr(world.net_host, "create_bridge", refused)
    with pytest.raises(ToolError, match="no such table"):
        world.containers.start(container)
    assert signal.SIGKILL in world.runtime.signals
    assert not world.containers.get("broken").running
