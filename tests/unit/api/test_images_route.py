"""The pull route's hang-up watcher (rootless/api/routes/images.py) on a socketpair."""
from __future__ import annotations

import socket
import threading

from rootless.api.routes.images import HangupWatcher


def watch(server: socket.socket) -> "tuple[HangupWatcher, threading.Event]":
    gone = threading.Event()
    return HangupWatcher(server, gone.set), gone


def test_closed_client_is_noticed() -> None:
    server, client = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with server:
        watcher, gone = watch(server)
        client.close()
        assert gone.wait(2)
        watcher.stop()


def test_half_closed_client_still_reads() -> None:
    """A client that only shut its sending side down (end of request body) is still there."""
    server, client = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with server, client:
        watcher, gone = watch(server)
        client.shutdown(socket.SHUT_WR)
        assert not gone.wait(0.6)
        server.sendall(b"progress")
        assert client.recv(8) == b"progress"
        watcher.stop()


def test_stopped_watcher_stays_quiet() -> None:
    server, client = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with server:
        watcher, gone = watch(server)
        watcher.stop()
        client.close()
        assert not gone.wait(0.6)
