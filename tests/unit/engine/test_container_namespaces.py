"""--network/--pid/--ipc container:X, docker's conflicting options and the host modes, against the
fake runtime: what create records and refuses, what start joins (engine/container_namespaces.py)."""
from __future__ import annotations

import os
import socket
from typing import Any, Dict

import pytest

from rootless.engine import lifecycle
from rootless.errors import Conflict, InvalidArgument, NotFound
from tests.unit.engine.test_containers import World


@pytest.fixture
def world(tmp_path: Any) -> World:
    return World(str(tmp_path))


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "restart_delay", lambda count: 0.0)


def test_a_sidecar_records_the_other_containers_id_and_no_network_of_its_own(world: World) -> None:
    web = world.create("web", HostConfig={"NetworkMode": "bridge"})
    side = world.create("side", HostConfig={"NetworkMode": "container:web", "PidMode": "container:web"})
    assert side.host_config["NetworkMode"] == f"container:{web.id}"  # as docker inspect shows it
    assert side.host_config["PidMode"] == f"container:{web.id}"
    assert side.host_config["IpcMode"] == "private" == web.host_config["IpcMode"]  # dockerd's default-ipc-mode
    assert side.attachments() == {}


def test_the_sidecar_joins_the_running_containers_namespaces_and_its_etc_files(world: World) -> None:
    web = world.run("web", Hostname="webhost", HostConfig={"NetworkMode": "bridge"})
    side = world.run("side", HostConfig={"NetworkMode": f"container:{web.id[:8]}", "PidMode": "container:web"})
    options = world.runtime.processes[side.id].options
    pid = web.pid
    assert (options.network, options.netns_path) == ("container", f"/proc/{pid}/ns/net")
    assert (options.pid, options.pid_ns_path) == ("container", f"/proc/{pid}/ns/pid")
    assert options.hostname == "webhost"
    assert options.etc_files == {"/etc/hostname": os.path.join(web.etc_dir, "hostname"),
                                 "/etc/hosts": os.path.join(web.etc_dir, "hosts"),
                                 "/etc/resolv.conf": os.path.join(web.etc_dir, "resolv.conf")}
    assert world.runtime.processes[side.id].monitor.network == "none"  # no slirp4netns of its own


def test_a_sidecar_of_a_sidecar_gets_the_files_of_the_namespaces_owner(world: World) -> None:
    web = world.run("web", Hostname="webhost", HostConfig={"NetworkMode": "bridge"})
    side = world.run("side", HostConfig={"NetworkMode": "container:web"})
    third = world.run("third", HostConfig={"NetworkMode": "container:side"})
    options = world.runtime.processes[third.id].options
    assert options.netns_path == f"/proc/{side.pid}/ns/net" and options.hostname == "webhost"
    assert options.etc_files["/etc/hosts"] == os.path.join(web.etc_dir, "hosts")


def test_joining_a_container_that_does_not_run_fails_at_start_as_dockerd(world: World) -> None:
    world.create("web", HostConfig={"NetworkMode": "bridge"})
    side = world.create("side", HostConfig={"NetworkMode": "container:web"})
    with pytest.raises(Conflict, match="cannot join network of a non running container: web"):
        world.containers.start(side)
    pid_side = world.create("pidside", HostConfig={"PidMode": "container:web"})
    with pytest.raises(Conflict, match="failed to join PID namespace: container web is not running"):
        world.containers.start(pid_side)
    with pytest.raises(NotFound, match="No such container: nope"):
        world.create(HostConfig={"IpcMode": "container:nope"})


def test_ipc_of_a_container_that_is_not_shareable_is_refused_as_dockerd(world: World) -> None:
    world.run("web")
    side = world.create("side", HostConfig={"IpcMode": "container:web"})
    with pytest.raises(InvalidArgument, match=r"non-shareable IPC \(hint: use IpcMode:shareable"):
        world.containers.start(side)


@pytest.mark.parametrize("body,message", [
    ({"Hostname": "x"}, "conflicting options: hostname and the network mode"),
    ({"HostConfig": {"Dns": ["1.1.1.1"]}}, "conflicting options: dns and the network mode"),
    ({"HostConfig": {"DnsSearch": ["example.com"]}}, "conflicting options: dns and the network mode"),
    ({"HostConfig": {"ExtraHosts": ["a:1.2.3.4"]}}, "conflicting options: custom host-to-IP mapping"),
    ({"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "8080"}]}}},
     "conflicting options: port publishing and the container type network mode"),
    ({"ExposedPorts": {"80/tcp": {}}}, "conflicting options: port exposing and the container type network mode"),
    ({"MacAddress": "02:42:ac:11:00:02"}, "conflicting options: mac-address and the network mode"),
    ({"HostConfig": {"NetworkMode": "container:"}}, "invalid container format container:<name|id>"),
    ({"HostConfig": {"PidMode": "private"}}, "invalid PID mode: private"),
    ({"HostConfig": {"IpcMode": "weird"}}, "invalid IPC mode: weird"),
])
def test_docker_conflicting_options_are_refused_at_create(world: World, body: Dict[str, Any], message: str) -> None:
    world.run("web")
    host_config = {"NetworkMode": "container:web", **body.pop("HostConfig", {})}
    with pytest.raises(InvalidArgument, match=message):
        world.create(HostConfig=host_config, **body)


def test_host_network_gets_the_hosts_name_and_no_other_network(world: World) -> None:
    box = world.create("box", HostConfig={"NetworkMode": "host"})
    assert box.hostname == socket.gethostname()  # as dockerd names it
    named = world.create("named", Hostname="mine", HostConfig={"NetworkMode": "host"})
    assert named.hostname == "mine"
    world.create("side", HostConfig={"NetworkMode": "container:box"})
    net = world.networks.create("n1")
    for name in ("box", "side"):
        with pytest.raises(Conflict, match="cannot be connected to any other network"):
            world.containers.connect_network(world.containers.get(name), net.name, [], None)


def test_a_device_is_checked_at_create_and_given_to_the_runtime(world: World) -> None:
    box = world.run(HostConfig={"Devices": [
        {"PathOnHost": "/dev/null", "PathInContainer": "/dev/n", "CgroupPermissions": "rwm"}]})
    devices = world.runtime.processes[box.id].options.devices
    assert [(d.path_on_host, d.path_in_container, d.permissions) for d in devices] == [("/dev/null", "/dev/n", "rwm")]
    with pytest.raises(InvalidArgument, match='adding custom device "/dev/nope-nope": no such file or directory'):
        world.create("bad", HostConfig={"Devices": [{"PathOnHost": "/dev/nope-nope", "CgroupPermissions": "rwm"}]})
    assert [c.name for c in world.containers.all()] == [box.name]  # nothing left of the refused one
