"""`rootless system dial-stdio`: the API over stdin/stdout, for `rootless -H ssh://...` (issue 14).

What `docker system dial-stdio` is to the docker CLI: ssh runs it on the
remote, and it relays bytes between the ssh channel and the remote user's
daemon (started on demand, as any command does). Each direction ends on its
own: EOF on stdin half-closes the socket, so an attached stream can still
deliver the rest of its output.
"""
from __future__ import annotations

import contextlib
import os
import socket
import threading

import click

from rootless.cli.app import App
from rootless.client import transport

READ_SIZE = 65536


def _stdin_to_socket(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while True:
            data = os.read(0, READ_SIZE)
            if not data:
                break
            sock.sendall(data)
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_WR)  # keeps a TLS socket's state, see client/hijack.py


def _socket_to_stdout(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while True:
            data = sock.recv(READ_SIZE)
            if not data:
                break
            view = memoryview(data)
            while view:
                view = view[os.write(1, view):]


@click.command(name="dial-stdio")
@click.pass_obj
def dial_stdio(app: App) -> None:
    """Proxy the daemon's API over stdin and stdout (run by ssh)."""
    target = app.client.socket_path  # starts the local daemon when it is not running
    sock = transport.connect(target)
    threading.Thread(target=_stdin_to_socket, args=(sock,), name="dial-stdin", daemon=True).start()
    try:
        _socket_to_stdout(sock)
    finally:
        sock.close()
