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


def test_parse_detach_keys_follows_mobys_key_names() -> None:
    import pytest

    from rootless.engine.container_io import parse_detach_keys
    from rootless.errors import InvalidArgument

    assert parse_detach_keys("") == b"\x10\x11"
    assert parse_detach_keys("ctrl-x") == b"\x18"
    assert parse_detach_keys("a,ctrl-@,ctrl-[,ctrl-_") == b"a\x00\x1b\x1f"
    for bad in ("ctrl-pp", "ctrl-1", "ab"):
        with pytest.raises(InvalidArgument):
            parse_detach_keys(bad)


def test_pump_detachable_stops_at_the_keys_across_reads() -> None:
    from rootless.engine.container_io import pump_detachable

    written: List[bytes] = []
    detached: List[bool] = []
    chunks = iter([b"ab\x10", b"\x11never"])
    reader = SimpleNamespace(read1=lambda _n: next(chunks, b""))
    pump_detachable(reader, written.append, b"\x10\x11", lambda: detached.append(True))  # type: ignore[arg-type]
    assert detached == [True]
    assert b"".join(written) == b"ab\x10"  # a key split across reads went through before the match completed


def test_pump_detachable_copies_to_eof_without_the_keys() -> None:
    from rootless.engine.container_io import pump_detachable

    written: List[bytes] = []
    chunks = iter([b"hello ", b"world"])
    reader = SimpleNamespace(read1=lambda _n: next(chunks, b""))
    pump_detachable(reader, written.append, b"\x10\x11", lambda: written.append(b"DETACHED"))  # type: ignore[arg-type]
    assert written == [b"hello ", b"world"]


def test_diff_hides_the_engines_etc_bind_targets_and_etc_only_for_them() -> None:
    from rootless.engine.container_reads import hide_engine_mountpoints

    ours = [{"Path": "/etc", "Kind": 0}, {"Path": "/etc/hostname", "Kind": 1},
            {"Path": "/etc/resolv.conf", "Kind": 1}, {"Path": "/tmp", "Kind": 0}, {"Path": "/tmp/x", "Kind": 1}]
    assert hide_engine_mountpoints(ours) == [{"Path": "/tmp", "Kind": 0}, {"Path": "/tmp/x", "Kind": 1}]
    theirs = ours + [{"Path": "/etc/made", "Kind": 1}]
    assert [c["Path"] for c in hide_engine_mountpoints(theirs)] == ["/etc", "/tmp", "/tmp/x", "/etc/made"]
    untouched = [{"Path": "/etc", "Kind": 0}, {"Path": "/etc/passwd", "Kind": 0}]
    assert hide_engine_mountpoints(untouched) == untouched
