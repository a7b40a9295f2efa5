"""A container's hostname, hosts and resolv.conf live in the runtime dir (Paths.etc_dir), not in
its container dir in the storage root: written at every start, kept while it is stopped, gone
at its removal (or at the next daemon start when a removal was killed), named by inspect."""
from __future__ import annotations

import os
from typing import Any, Dict

import pytest

from rootless.engine import container_spec
from rootless.engine.container_model import Container
from tests.unit.engine.test_containers import World

NAMES = ("hostname", "hosts", "resolv.conf")


@pytest.fixture
def world(tmp_path: Any) -> World:
    return World(str(tmp_path))


def _contents(container: Container) -> Dict[str, str]:
    result = {}
    for name in NAMES:
        with open(os.path.join(container.etc_dir, name)) as f:
            result[name] = f.read()
    return result


def test_a_start_writes_them_in_the_runtime_dir_and_nothing_in_the_container_dir(world: World) -> None:
    container = world.run("web", Hostname="webhost", HostConfig={"ExtraHosts": ["db:10.1.2.3"]})
    assert container.etc_dir == os.path.join(world.paths.run, "etc", container.id)
    assert not set(NAMES) & set(os.listdir(container.dir))
    contents = _contents(container)
    assert contents["hostname"] == "webhost\n" and "10.1.2.3\tdb" in contents["hosts"]
    options = world.runtime.processes[container.id].options
    assert options.etc_files == {f"/etc/{name}": os.path.join(container.etc_dir, name) for name in NAMES}
    shown = world.containers.inspect(container)
    assert (shown["HostnamePath"], shown["HostsPath"], shown["ResolvConfPath"]) == tuple(
        os.path.join(container.etc_dir, name) for name in NAMES)


def test_a_stopped_container_keeps_them_and_each_start_writes_all_three_again(world: World) -> None:
    container = world.run("web", Hostname="webhost")
    world.containers.stop(container, 0, None)
    assert container.status == "exited" and _contents(container)["hostname"] == "webhost\n"  # docker cp reads them
    for name in NAMES:  # a reboot empties the runtime dir
        os.unlink(os.path.join(container.etc_dir, name))
    os.rmdir(container.etc_dir)
    world.containers.start(container)
    assert _contents(container)["hostname"] == "webhost\n" and "webhost" in _contents(container)["hosts"]


def test_a_removal_takes_them_and_a_daemon_start_drops_an_unrecorded_ones(world: World) -> None:
    kept = world.run("kept")
    gone = world.run("gone")
    world.containers.remove(gone, True, False)
    assert not os.path.exists(gone.etc_dir) and os.path.isdir(kept.etc_dir)
    orphan = world.paths.etc_dir("f" * 64)  # a daemon killed between a removal's rename and this dir
    os.makedirs(orphan)
    open(os.path.join(orphan, "hosts"), "w").close()
    world.daemon_start()
    assert not os.path.exists(orphan) and os.path.isfile(os.path.join(kept.etc_dir, "hosts"))


def test_drop_etc_orphans_without_the_dir_is_nothing(tmp_path: Any) -> None:
    assert container_spec.drop_etc_orphans(str(tmp_path / "absent"), {}) == []


def test_inspect_of_a_record_an_older_daemon_made_names_the_runtime_dir(world: World) -> None:
    container = world.create("old")
    container.data["HostsPath"] = os.path.join(container.dir, "hosts")  # where an older daemon wrote it
    assert container.inspect({}, {})["HostsPath"] == os.path.join(container.etc_dir, "hosts")
