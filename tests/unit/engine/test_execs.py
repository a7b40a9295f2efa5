"""Exec exit statuses for commands crun could not start (docker's 126/127); the client hang-up rule;
detached execs handed to the monitor."""
from __future__ import annotations

import socket
import threading
import time
from typing import Any, List

import pytest

from rootless.api import types
from rootless.engine.execs import ExecSession, _detach, _kill_on_hangup, exec_failure_code


@pytest.mark.parametrize("stderr, code", [
    (b"executable file `nosuch` not found in $PATH: No such file or directory\n", 127),
    (b"output\nexecutable file `/no/x` not found in $PATH: No such file or directory\n", 127),
    (b"open executable: Permission denied\n", 126),
    (b"open executable: Operation not permitted\n", 126),
    (b"cat: can't open '/root/x': Permission denied\n", 255),
    (b"", 255),
])
def test_exec_failure_code(stderr: bytes, code: int) -> None:
    assert exec_failure_code(stderr) == code


class _Killable:
    def __init__(self) -> None:
        self.killed = threading.Event()

    def kill(self) -> None:
        self.killed.set()


def _session() -> ExecSession:
    session = ExecSession("e" * 64, None, types.ExecCreate(Cmd=["sleep", "1000"]))  # type: ignore[arg-type]
    session.process = _Killable()
    return session


def test_a_client_that_hangs_up_kills_its_exec() -> None:
    session = _session()
    ours, client = socket.socketpair()
    with ours:
        watcher = threading.Thread(target=_kill_on_hangup, args=(session, ours))
        watcher.start()
        client.close()  # the docker CLI was SIGKILLed
        watcher.join(5)
        assert session.process.killed.is_set()


def test_a_half_close_is_only_the_end_of_stdin() -> None:
    session = _session()
    ours, client = socket.socketpair()
    with ours, client:
        watcher = threading.Thread(target=_kill_on_hangup, args=(session, ours))
        watcher.start()
        client.shutdown(socket.SHUT_WR)  # `docker exec -i` at the end of its input
        time.sleep(0.5)
        session.done.set()
        watcher.join(5)
        assert not session.process.killed.is_set()


def test_a_detached_exec_is_handed_to_the_monitor_before_start_returns(tmp_path: Any) -> None:
    """`exec -d`: the process must outlive a daemon stopped right after the 200 (its monitor keeps it)."""
    from rootless.engine.execs import ExecService
    from tests.unit.engine.test_containers import World

    world = World(str(tmp_path))
    container = world.run()
    execs = ExecService(world.runtime, world.containers, 40)
    session = execs.create(container, types.ExecCreate(Cmd=["sleep", "1000"]))
    execs.start(session, detach=True)
    assert world.runtime.calls[-1] == f"detach {session.exec_id[:6]}"
    assert session.done.wait(5)
    execs.run_probe(container, ["true"], 5)  # an exec the daemon reads: not handed over
    assert [call for call in world.runtime.calls if call.startswith("detach")] == [f"detach {session.exec_id[:6]}"]


def test_leaving_with_the_detach_keys_hands_the_exec_to_the_monitor() -> None:
    session = _session()
    detached: List[bool] = []
    session.process.detach = lambda: detached.append(session.detached)  # type: ignore[attr-defined]
    ours, client = socket.socketpair()
    with ours, client:
        _detach(session, ours)
    assert detached == [True]


def test_a_restarted_daemon_knows_no_exec_of_the_one_before(tmp_path: Any) -> None:
    """moby's exec records are in memory: after a restart ExecIDs is null and an old ID a 404."""
    from rootless.engine.execs import ExecService
    from rootless.errors import NotFound
    from tests.unit.engine.test_containers import World

    world = World(str(tmp_path))
    container = world.run()
    session = ExecService(world.runtime, world.containers, 40).create(container, types.ExecCreate(Cmd=["top"]))
    container.save()  # any later save (update, health) writes the IDs with the record
    containers = world.daemon_start()
    assert containers.get(container.id).data["ExecIDs"] is None
    with pytest.raises(NotFound, match="No such exec instance"):
        ExecService(world.runtime, containers, 40).get(session.exec_id)
