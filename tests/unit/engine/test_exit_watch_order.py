"""The exit watcher of a start begins before `crun start` (off the start's answer), and
acts on an exit only once start() has recorded and published the start (engine.containers.ExitGate)."""
from __future__ import annotations

import threading
from typing import Any, List

import pytest

from rootless.engine import containers as containers_module
from rootless.errors import ToolError
from tests.unit.engine.test_containers import World, eventually


@pytest.fixture
def world(tmp_path: Any) -> World:
    return World(str(tmp_path))


def _watchers(container_id: str) -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"wait-{container_id[:12]}"]


def test_the_watcher_runs_before_crun_start_and_a_quick_exit_comes_after_start(world: World,
                                                                             monkeypatch: Any) -> None:
    seen: List[str] = []
    real = containers_module.threads.start_soon

    def start_soon(target: Any, args: Any = (), name: str = "") -> None:
        seen.append(name.split("-")[0])
        real(target, args, name)

    def start_and_exit_at_once(container_id: str) -> None:  # `true`: gone before start() records it
        seen.append("crun start")
        world.runtime.processes[container_id].started = True
        world.runtime.exit(container_id, 0)

    monkeypatch.setattr(containers_module.threads, "start_soon", start_soon)
    monkeypatch.setattr(world.runtime, "start", start_and_exit_at_once)
    for _ in range(20):  # the watcher races the rest of start(): bounded repeats
        container = world.create(HostConfig={"AutoRemove": True})
        world.containers.start(container)
        assert world.containers.wait(container, "removed", 5)["StatusCode"] == 0
    assert seen == ["wait", "crun start"] * 20  # its thread asked for before crun start
    actions = world.actions()
    assert actions.count("start") == 20 and actions.count("die") == 20
    for i, action in enumerate(actions):  # every die after its start
        if action == "die":
            assert actions[:i].count("start") > actions[:i].count("die")


def test_a_failed_crun_start_is_settled_by_the_start_alone(world: World, monkeypatch: Any) -> None:
    container = world.create()

    def init_died(container_id: str) -> None:  # crun start fails: the monitor reports the exit
        world.runtime.exit(container_id, 1)
        raise ToolError("crun", "start failed: the container's init is gone")

    monkeypatch.setattr(world.runtime, "start", init_died)
    with pytest.raises(ToolError):
        world.containers.start(container)
    eventually(lambda: not _watchers(container.id))  # it ended without acting on that exit
    assert container.status == "exited" and container.state["ExitCode"] == 128
    assert world.actions() == ["create", "die"]  # one die, the failed start's
