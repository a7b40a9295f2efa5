"""A --rm container's start and exit (bench/README.md "The run path, session 9").

Its record is written at create only: not as running (a killed daemon's
successor settles it as an unrecorded start, test_rm_daemon_kill.py), not as
exited (it is removed right after), unless the removal fails and it stays; a
wait for condition=removed is woken by removals only, not by every start and
exit.
"""
from __future__ import annotations

import json
import os
import threading
from typing import Any, Dict, List

import pytest

from rootless.errors import FailedPrecondition
from rootless.runtime.supervisor import Launched
from tests.unit.engine.test_containers import World, eventually


def _on_disk(container: Any) -> Dict[str, Any]:
    with open(os.path.join(container.dir, "container.json")) as f:
        record: Dict[str, Any] = json.load(f)
    return record


def test_a_rm_exit_does_not_write_the_record_it_is_about_to_remove(tmp_path: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(str(tmp_path))
    container = world.run(HostConfig={"AutoRemove": True})
    states: List[str] = []
    save = type(container).save

    def spy(self: Any) -> None:
        states.append(self.status)
        save(self)

    monkeypatch.setattr(type(container), "save", spy)
    world.runtime.exit(container.id, 7)
    assert world.containers.wait(container, "removed", 5)["StatusCode"] == 7
    assert "exited" not in states


def test_a_rm_container_whose_removal_fails_is_recorded_as_exited(tmp_path: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(str(tmp_path))
    container = world.run(HostConfig={"AutoRemove": True})

    def rename_refused(path: str) -> None:  # the removal fails before its dir left the store
        raise FailedPrecondition("move to trash: disk full")

    monkeypatch.setattr(world.containers.trash, "discard", rename_refused)
    world.runtime.exit(container.id, 2)
    eventually(lambda: container.status == "exited")
    eventually(lambda: _on_disk(container)["State"]["Status"] == "exited")
    assert _on_disk(container)["State"]["ExitCode"] == 2
    assert world.containers.exists(container.id)


def test_a_wait_for_removed_sleeps_through_other_containers_starts_and_exits(tmp_path: Any) -> None:
    world = World(str(tmp_path))
    waited = world.run(HostConfig={"AutoRemove": True})
    wakeups: List[int] = []
    entered = threading.Event()
    gone = world.containers._gone
    original_wait = gone.wait

    def counting_wait(timeout: Any = None) -> bool:
        entered.set()
        result = original_wait(timeout)
        if result:  # notified; the periodic look at the client (a timeout) is not counted
            wakeups.append(1)
        return result

    gone.wait = counting_wait  # type: ignore[method-assign]
    answer: Dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: answer.update(world.containers.wait(waited, "removed", 10)))
    waiter.start()
    assert entered.wait(5)  # it sleeps on the condition now
    for _ in range(3):  # others come and go while it waits
        other = world.run()
        world.runtime.exit(other.id, 0)
        eventually(lambda: other.status == "exited")
    assert wakeups == [] and waiter.is_alive()
    world.runtime.exit(waited.id, 5)
    waiter.join(10)
    assert answer["StatusCode"] == 5
    assert len(wakeups) == 1  # the removal's, and it held


def test_a_rm_exit_releases_the_rootfs_once_in_the_removal(tmp_path: Any) -> None:
    """No teardown first: the removal's release_rootfs unmounts (and checks) it, and ends the monitor."""
    world = World(str(tmp_path))
    rm = world.run(HostConfig={"AutoRemove": True})
    kept = world.run()
    for container in (rm, kept):
        world.runtime.exit(container.id, 0)
    world.containers.wait(rm, "removed", 5)
    eventually(lambda: kept.status == "exited")
    # after the answer (and the endpoints' write): _disconnect_removed, _release_removed
    eventually(lambda: [c for c in world.runtime.calls if c.endswith(rm.id[:6]) and c.split()[0] in
                        ("teardown", "remove")] == [f"remove {rm.id[:6]}"])
    assert f"teardown {kept.id[:6]}" in world.runtime.calls  # a kept one is unmounted at its exit


def test_a_rm_start_leaves_the_record_as_created_and_a_restart_adopts_it_running(tmp_path: Any) -> None:
    world = World(str(tmp_path))
    container = world.run(HostConfig={"AutoRemove": True})
    assert container.status == "running"
    assert _on_disk(container)["State"]["Status"] == "created"
    kept = world.run()
    assert _on_disk(kept)["State"]["Status"] == "running"
    # its monitor lives on and answers the new daemon's start request
    world.runtime.resumable[container.id] = Launched(container.id, container.pid, container.pid + 1000, [])
    adopted = world.daemon_start()
    adopted.adopt()
    assert adopted.get(container.id).status == "running"
    world.runtime.exit(container.id, 0)
    eventually(lambda: not adopted.exists(container.id))
