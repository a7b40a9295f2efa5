"""A removal answers its waiters at the rename of the container's dir into the trash; the
rootfs's unmount and the monitor dir come after (engine/containers.py _release_removed,
bench/README.md "The exit path"), and a daemon killed in between leaves what the next
start finishes (container_trash.py delete_unmounted, Supervisor.drop_orphans)."""
from __future__ import annotations

import os
import threading
from typing import Any, Dict, List, Optional

import pytest

from rootless.engine import container_trash
from rootless.errors import FailedPrecondition, NotFound
from tests.unit.engine.test_containers import World, answer_removed_while_held, eventually


def test_the_removed_answer_and_the_free_name_come_before_the_rootfs_release(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(str(tmp_path))
    container = world.run("short", HostConfig={"AutoRemove": True})
    released = threading.Event()
    go_on = threading.Event()
    release = world.runtime.release_rootfs
    seen: Dict[str, Any] = {}

    def slow_release(container_id: str, moved_to: Optional[str] = None) -> None:
        seen["moved_to"] = moved_to
        released.set()
        assert go_on.wait(10)
        release(container_id, moved_to)

    monkeypatch.setattr(world.runtime, "release_rootfs", slow_release)
    answer_removed_while_held(world, container, 3, released)  # answered while the release still waits
    with pytest.raises(NotFound):
        world.containers.get("short")
    again = world.create("short")  # the name is free at the answer
    assert again.id != container.id
    # the release got the dir where it is now: in the trash, out of the store
    assert os.path.dirname(seen["moved_to"]) == world.containers.trash.dir
    assert not os.path.exists(container.dir)
    go_on.set()
    eventually(lambda: world.containers.trash.leftovers() == [])
    assert container.id not in world.runtime.monitor_dirs


def test_a_release_that_fails_after_the_rename_leaves_the_container_removed(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(str(tmp_path))
    container = world.run(HostConfig={"AutoRemove": True})

    def busy(container_id: str, moved_to: Optional[str] = None) -> None:
        raise FailedPrecondition("remove rootfs: device busy")

    monkeypatch.setattr(world.runtime, "release_rootfs", busy)
    world.runtime.exit(container.id, 0)
    assert world.containers.wait(container, "removed", 5)["StatusCode"] == 0
    assert not world.containers.exists(container.id)


def test_a_daemon_killed_after_the_rename_has_its_monitor_dir_dropped_at_the_next_start(tmp_path: Any) -> None:
    world = World(str(tmp_path))
    kept = world.run()
    gone = world.run()
    world.runtime.exit(gone.id, 0)
    eventually(lambda: gone.status == "exited")
    world.runtime.monitor_dirs.add(gone.id)  # what the killed removal had not released yet
    world.containers.trash.discard(gone.dir)  # and its rename
    world.daemon_start()
    assert gone.id not in world.runtime.monitor_dirs
    assert kept.id in world.runtime.monitor_dirs  # a recorded container's stays


MOUNTINFO_LINES = [
    "22 1 0:21 / / rw - ext4 /dev/vda1 rw",
    "40 22 0:40 / /s/containers/.trash/abc-1/rootfs/merged rw - overlay overlay rw",
    "41 40 0:41 / /s/containers/.trash/abc-1/rootfs/merged/proc rw - proc proc rw",
    "42 22 0:42 / /s/containers/.trash/abc-10/rootfs/merged rw - overlay overlay rw",
    "43 22 0:43 / /s/containers/def/rootfs/merged rw - overlay overlay rw",
]


def test_mounts_under_a_trash_entry_are_listed_deepest_first(tmp_path: Any) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("\n".join(MOUNTINFO_LINES) + "\n")
    assert container_trash.mounts_under("/s/containers/.trash/abc-1", str(mountinfo)) == [
        "/s/containers/.trash/abc-1/rootfs/merged/proc", "/s/containers/.trash/abc-1/rootfs/merged"]
    assert container_trash.mounts_under("/s/containers/.trash/xyz-2", str(mountinfo)) == []


def test_the_trash_refuses_to_delete_through_a_mount_it_could_not_take_off(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    doomed = tmp_path / "abc-1"
    (doomed / "rootfs" / "merged").mkdir(parents=True)
    (doomed / "rootfs" / "merged" / "file").write_text("in the image")
    merged = str(doomed / "rootfs" / "merged")
    detached: List[str] = []
    monkeypatch.setattr(container_trash, "mounts_under", lambda path: [merged])  # stays mounted
    monkeypatch.setattr(container_trash, "detach", detached.append)
    with pytest.raises(FailedPrecondition, match="still mounted"):
        container_trash.delete_unmounted(str(doomed))
    assert detached == [merged]
    assert (doomed / "rootfs" / "merged" / "file").exists()  # nothing deleted through it


def test_the_trash_unmounts_then_deletes(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    doomed = tmp_path / "abc-1"
    (doomed / "rootfs" / "merged").mkdir(parents=True)
    merged = str(doomed / "rootfs" / "merged")
    mounted = [merged]
    monkeypatch.setattr(container_trash, "mounts_under", lambda path: list(mounted))
    monkeypatch.setattr(container_trash, "detach", mounted.remove)
    container_trash.delete_unmounted(str(doomed))
    assert not doomed.exists() and mounted == []
