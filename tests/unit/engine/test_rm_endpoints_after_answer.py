"""A removal's endpoints stop counting before its answer and are written out of the network
store after it (NetworkStore.leave, engine/containers.py _remove_stopped; bench/README.md
"Run path, session 12"): `docker network rm` and a new container's address right after the
answer see them gone, and the store's write is off the answer's path."""
from __future__ import annotations

import threading
from typing import Any, List

import pytest

from tests.unit.engine.test_containers import World, answer_removed_while_held


def test_the_removed_answer_comes_before_the_endpoints_write(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(str(tmp_path))
    world.networks.create("quick", subnet="10.66.0.0/24")
    container = world.run("short", HostConfig={"AutoRemove": True, "NetworkMode": "quick"})
    assert container.id in world.networks.get("quick").endpoints
    writing = threading.Event()
    go_on = threading.Event()
    disconnect_all = world.networks.disconnect_all
    written = threading.Event()

    def slow_disconnect_all(container_id: str) -> List[str]:
        writing.set()
        assert go_on.wait(10)
        left = disconnect_all(container_id)
        written.set()
        return left

    monkeypatch.setattr(world.networks, "disconnect_all", slow_disconnect_all)
    answer_removed_while_held(world, container, 0, writing)  # answered while the write still waits
    assert container.id not in world.networks.get("quick").endpoints
    world.networks.remove("quick")  # `docker network rm` right after the answer
    go_on.set()
    assert written.wait(5)
    assert world.networks.networks_of(container.id) == []
    assert container.id not in world.networks._leaving  # forgotten once written
