"""A removed container's dir leaves the store in one rename; its deletion comes after the answer."""
from __future__ import annotations

import os
import threading
from typing import Any, List

import pytest

from rootless.engine import container_trash
from rootless.engine.container_trash import TRASH, ContainerTrash
from rootless.images import crashpoint
from tests.unit.engine.test_containers import World, eventually


class Crashed(Exception):
    """Stands for the SIGKILL at a crash point."""


def test_the_wait_for_removed_is_answered_before_the_dir_is_deleted(tmp_path: Any) -> None:
    world = World(str(tmp_path))
    release, deleted = threading.Event(), []  # type: threading.Event, List[str]

    def slow_delete(path: str) -> None:
        release.wait(10)  # a big rootfs on a busy disk
        deleted.append(path)
        container_trash.fs.remove_tree(path)

    world.containers.trash._delete = slow_delete
    container = world.run(HostConfig={"AutoRemove": True})
    os.makedirs(os.path.join(container.dir, "rootfs", "upper", "written"))
    world.runtime.exit(container.id, 3)
    assert world.containers.wait(container, "removed", 5)["StatusCode"] == 3
    assert not world.containers.exists(container.id) and not os.path.exists(container.dir)
    trash = os.path.join(world.paths.containers, TRASH)
    assert [name.split("-")[0] for name in os.listdir(trash)] == [container.id]  # renamed, not yet deleted
    assert deleted == []
    release.set()
    eventually(lambda: os.listdir(trash) == [])
    assert len(deleted) == 1


def test_a_start_empties_the_trash_a_killed_daemon_left_and_loads_no_record_from_it(tmp_path: Any) -> None:
    world = World(str(tmp_path))
    left = os.path.join(world.paths.containers, TRASH, "a" * 64 + "-0123abcd")
    os.makedirs(os.path.join(left, "rootfs", "upper", "ro"))
    with open(os.path.join(left, "container.json"), "w") as f:
        f.write('{"Id": "%s", "Name": "/ghost"}' % ("a" * 64))
    os.chmod(os.path.join(left, "rootfs", "upper", "ro"), 0o555)  # as a container may leave it
    containers = world.daemon_start()
    assert containers.all() == []
    eventually(lambda: os.listdir(os.path.join(world.paths.containers, TRASH)) == [])


def test_killed_after_the_rename_the_container_is_gone_at_the_next_start(tmp_path: Any,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(str(tmp_path))
    container = world.create("doomed")
    monkeypatch.setenv(crashpoint.CRASH_ENV, "container-rm:after-trash")

    def die() -> None:
        raise Crashed()

    monkeypatch.setattr(crashpoint, "die", die)
    with pytest.raises(Crashed):
        world.containers.remove(container, force=False, volumes=True)
    monkeypatch.delenv(crashpoint.CRASH_ENV)
    containers = world.daemon_start()
    assert containers.all() == []
    eventually(lambda: os.listdir(os.path.join(world.paths.containers, TRASH)) == [])
    assert world.create("doomed").name == "doomed"  # the name is free again


def test_a_dir_already_gone_is_not_an_error(tmp_path: Any) -> None:
    trash = ContainerTrash(str(tmp_path))
    assert trash.discard(str(tmp_path / ("b" * 64))) is None
    assert trash.empty() == 0


def test_a_rm_containers_exit_writes_the_bridge_record_once_and_leaves_its_veth_for_later(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from rootless.engine import container_spec
    from rootless.networks.store import BRIDGE

    monkeypatch.setattr(container_spec, "host_address", lambda: "192.0.2.7")
    world = World(str(tmp_path))
    kept = world.run(HostConfig={"NetworkMode": "bridge"})
    doomed = world.run(HostConfig={"NetworkMode": "bridge", "AutoRemove": True})
    saves: List[str] = []
    ephemeral: List[str] = []
    real_save, real_ephemeral = world.networks._save, world.networks._save_ephemeral
    monkeypatch.setattr(world.networks, "_save", lambda network: (saves.append(network.name), real_save(network)))
    monkeypatch.setattr(world.networks, "_save_ephemeral",
                        lambda network: (ephemeral.append(network.name), real_ephemeral(network)))
    world.runtime.exit(doomed.id, 0)
    assert world.containers.wait(doomed, "removed", 5)["StatusCode"] == 0
    assert doomed.id not in world.networks.get(BRIDGE).endpoints  # at the answer (NetworkStore.leave)
    eventually(lambda: ephemeral == [BRIDGE])  # the endpoint and its address go in one write, after the answer
    assert saves == []  # a --rm container's endpoint is not in the durable record (test_store_ephemeral.py)
    assert world.net_host.detached_waiting == [False]  # its veth may go after the answer
    world.runtime.exit(kept.id, 0)
    eventually(lambda: not world.containers.get(kept.id).running)
    eventually(lambda: world.net_host.detached_waiting == [False, True])
    assert world.networks.get(BRIDGE).endpoints[kept.id].ipv4 == ""  # released at its stop, as before


def test_a_start_drops_the_endpoint_a_daemon_killed_mid_create_left(tmp_path: Any) -> None:
    from rootless.networks.store import BRIDGE

    world = World(str(tmp_path))
    kept = world.create("kept", HostConfig={"NetworkMode": "bridge"})
    world.networks.connect(BRIDGE, "o" * 64, "orphan", allocate=False, ephemeral=True)  # no record followed
    world.networks.connect(BRIDGE, "p" * 64, "orphan2", allocate=False)
    world.daemon_start()
    assert set(world.networks.get(BRIDGE).endpoints) == {kept.id}


def test_a_start_removes_the_dir_a_create_killed_before_its_first_record_left(tmp_path: Any) -> None:
    world = World(str(tmp_path))
    kept = world.create("kept")
    killed_create = os.path.join(world.paths.containers, "c" * 64)
    os.makedirs(os.path.join(killed_create, "rootfs", "upper", "ro"))
    os.chmod(os.path.join(killed_create, "rootfs", "upper", "ro"), 0o555)
    torn = os.path.join(world.paths.containers, "d" * 64)
    os.makedirs(torn)
    with open(os.path.join(torn, "container.json"), "w") as f:
        f.write('{"Id": "')  # a power cut's torn record: skipped, kept for a human
    containers = world.daemon_start()
    assert [c.id for c in containers.all()] == [kept.id]
    eventually(lambda: os.listdir(os.path.join(world.paths.containers, TRASH)) == [])
    assert sorted(os.listdir(world.paths.containers)) == sorted([TRASH, kept.id, "d" * 64])
