"""Exec exit statuses for commands crun could not start (docker's 126/127); the client hang-up rule."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from rootless.api import types
from rootless.engine.execs import ExecSession, _kill_on_hangup, exec_failure_code


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
