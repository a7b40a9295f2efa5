"""Attach sessions: queued before the 101 answer, connected by the start, bridged to the client."""
from __future__ import annotations

import io
import socket
import threading
from types import SimpleNamespace
from typing import Any, List

from rootless.engine.container_io import AttachSession
from rootless.runtime import stdcopy


class FakeLifecycle:
    """Just what AttachSession uses (AttachHost): the waiting queue and the monitor's attach socket."""

    def __init__(self, container: Any) -> None:
        self.queued: List[Any] = []
        self.container = container
        self.monitor_end, engine_end = socket.socketpair()
        self.runtime = SimpleNamespace(attach=lambda *args: engine_end)

    def exists(self, container_id: str) -> bool:
        return bool(container_id == self.container.id)

    def add_waiting_attach(self, container: Any, session: Any) -> bool:
        if container.running:
            return False
        self.queued.append(session)
        return True


def _session(running: bool) -> "tuple[AttachSession, FakeLifecycle]":
    container = SimpleNamespace(id="c1", running=running, tty=False)
    lifecycle = FakeLifecycle(container)
    session = AttachSession(lifecycle, container, stdin=False, stdout=True, stderr=True, logs=False,  # type: ignore[arg-type]
                            detach_keys=None)
    return session, lifecycle


def _serve_in_thread(session: AttachSession) -> "tuple[socket.socket, threading.Thread]":
    client_end, server_end = socket.socketpair()
    thread = threading.Thread(target=session.serve, args=(server_end, io.BytesIO()), daemon=True)
    thread.start()
    return client_end, thread


def test_attach_is_queued_at_request_time_and_gets_the_first_output() -> None:
    session, lifecycle = _session(running=False)
    session.register()  # in the route, before the 101 goes out
    assert lifecycle.queued == [session]
    # the start wins the race against serve(): it connects the queued session at once
    lifecycle.container.running = True
    session.connect()
    frame = stdcopy.stdcopy_frame("stdout", b"3\n")
    lifecycle.monitor_end.sendall(frame)
    lifecycle.monitor_end.close()
    client, thread = _serve_in_thread(session)
    thread.join(5)
    assert client.recv(100) == frame


def test_attach_to_a_running_container_connects_in_serve() -> None:
    session, lifecycle = _session(running=True)
    session.register()
    assert lifecycle.queued == []
    client, thread = _serve_in_thread(session)
    frame = stdcopy.stdcopy_frame("stderr", b"late\n")
    lifecycle.monitor_end.sendall(frame)
    lifecycle.monitor_end.close()
    thread.join(5)
    assert client.recv(100) == frame
