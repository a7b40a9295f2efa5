"""A bridge container's network namespace is made and wired before `crun create` (podman's order,
issue 13): the start hands its file to crun (SpecOptions.netns_path) once it is bound, the wiring
goes on while the monitor launches, and `crun start` waits for it. Against the fake runtime and a
fake NetworkHost whose jobs run on a thread without a namespace."""
from __future__ import annotations

import os
import threading

import pytest

from rootless.errors import RootlessError, ToolError
from tests.unit.engine.test_containers import World, eventually, no_backoff, world  # noqa: F401 (fixtures)


def netns_file(world: World, container_id: str) -> str:
    assert world.containers.wiring is not None
    return world.containers.wiring.netns_file(container_id)


def test_the_namespace_is_bound_before_create_and_wired_before_start(world: World) -> None:
    container = world.create("web", HostConfig={"NetworkMode": "bridge"})
    world.net_host.release_wiring.clear()  # the job's wire() waits: the launch must not
    starting = threading.Thread(target=world.containers.start, args=(container,))
    starting.start()
    try:
        eventually(lambda: container.id in world.runtime.processes)
        process = world.runtime.processes[container.id]
        assert process.options.netns_path == netns_file(world, container.id)  # crun joins the engine's
        assert process.monitor.network == "none"
        assert not process.started and world.net_host.endpoints == {}  # created, not wired: no `crun start`
    finally:
        world.net_host.release_wiring.set()
        starting.join(5)
    assert process.started and container.running
    assert world.net_host.log == [f"bound {process.options.netns_path}", f"wired {process.options.netns_path}"]
    wired = container.internal("networks")
    assert [entry["ipv4"] for entry in wired.values()] == ["172.17.0.2"]  # recorded on the start's thread
    assert [e.ipv4 for e in world.net_host.endpoints.values()] == ["172.17.0.2"]


@pytest.mark.parametrize("mode", ["none", "host", "slirp4netns", "pasta"])
def test_containers_without_a_veth_or_with_an_own_uplink_keep_crun_making_theirs(world: World, mode: str) -> None:
    container = world.run(HostConfig={"NetworkMode": mode})
    assert world.runtime.processes[container.id].options.netns_path is None
    assert world.net_host.log == []


def test_a_sidecar_joins_the_other_containers_namespace_by_its_pid(world: World) -> None:
    web = world.run("web", HostConfig={"NetworkMode": "bridge"})
    sidecar = world.run("side", HostConfig={"NetworkMode": f"container:{web.id}"})
    assert world.runtime.processes[sidecar.id].options.netns_path == f"/proc/{web.pid}/ns/net"
    assert len(world.net_host.log) == 2  # web's bound and wired; none for the sidecar


def test_a_failed_wiring_fails_the_start_and_leaves_nothing_wired(world: World,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(netns_path: str, endpoint: object) -> None:
        raise ToolError("netlink", "add veth: File exists")

    container = world.create("web", HostConfig={"NetworkMode": "bridge"})
    monkeypatch.setattr(world.net_host, "attach", refuse)
    with pytest.raises(RootlessError, match="add veth"):
        world.containers.start(container)
    assert not container.running and container.internal("networks") == {}
    assert world.net_host.endpoints == {} and 9 in world.runtime.signals  # the created process was killed


def test_a_failed_create_waits_for_the_wiring_and_undoes_it(world: World) -> None:
    container = world.create("web", HostConfig={"NetworkMode": "bridge"})
    world.runtime.fail_next_launch = ToolError("crun", "create failed", stderr="executable file `nope` not found")
    with pytest.raises(RootlessError):
        world.containers.start(container)
    path = netns_file(world, container.id)
    assert world.net_host.log == [f"bound {path}", f"wired {path}"]  # joined before the failure was recorded
    assert world.net_host.endpoints == {} and container.internal("networks") == {}
    assert container.status == "exited" and container.exit_code == 127


def test_a_restart_makes_a_new_namespace_and_the_exit_takes_the_old(world: World) -> None:
    container = world.run("web", HostConfig={"NetworkMode": "bridge"})
    world.runtime.exit(container.id, 0)
    eventually(lambda: not container.running)
    eventually(lambda: world.net_host.endpoints == {})
    world.containers.start(container)
    assert len([line for line in world.net_host.log if line.startswith("wired")]) == 2
    assert len(world.net_host.endpoints) == 1


def test_the_next_daemon_start_removes_namespace_files_left_behind(world: World) -> None:
    left = netns_file(world, "f" * 64)
    os.makedirs(os.path.dirname(left))
    with open(left, "w"):
        pass  # not bound here (unit tests make no namespace): the removal unlinks it all the same
    world.daemon_start().adopt()
    assert not os.path.exists(left)


def test_a_start_refused_before_the_addresses_makes_no_namespace(world: World) -> None:
    world.networks.create("app")
    container = world.create("web", HostConfig={"NetworkMode": "app"})
    world.networks.remove("app")  # dockerd's refusal at start: the network recorded is gone
    with pytest.raises(RootlessError, match="network .* not found"):
        world.containers.start(container)
    assert world.net_host.log == []  # made right before the launch only
    assert world.net_host.endpoints == {} and container.internal("networks") == {}
    assert not container.running


def test_the_addresses_reach_the_wiring_from_the_start(world: World) -> None:
    world.networks.create("app", subnet="10.91.0.0/24")
    container = world.run("web", HostConfig={"NetworkMode": "app"})
    assert [e.ipv4 for e in world.net_host.endpoints.values()] == ["10.91.0.2"]  # assigned by this start
    assert container.attachments()["app"]["IPAddress"] == "10.91.0.2"
