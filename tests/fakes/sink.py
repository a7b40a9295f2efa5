"""A counting sink: per connection one byte "+", then the count of the bytes read up to the half-close.

The "+" lets a client time a connect (read it, close) or know the far end is
really there; the count proves every byte went through. Stdlib only and
self-contained: bench/net_bench.py also runs this file's text inside its
containers (`python3 -c <text> PORT`), so the same server answers on the host
and in a container. The unit tests of the port forwarder relay it.
"""
from __future__ import annotations

import socket
import sys
import threading
from typing import Tuple


def count(conn: socket.socket) -> None:
    """Serve one connection and close it; a client that goes away early is no error."""
    with conn:
        try:
            conn.sendall(b"+")
            total = 0
            while True:
                chunk = conn.recv(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
            conn.sendall(str(total).encode())
        except OSError:
            pass  # the connect-latency probe closes right after the "+"


def listen(address: Tuple[str, int]) -> socket.socket:
    """A listening TCP socket on address (port 0: a free one)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(address)
    listener.listen(64)
    return listener


def serve(listener: socket.socket) -> None:
    """Accept until the listener is closed; a thread per connection."""
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=count, args=(conn,), daemon=True).start()


def start(host: str = "127.0.0.1") -> socket.socket:
    """A sink on a free port of host, served by a thread of its own; close the socket to stop it."""
    listener = listen((host, 0))
    threading.Thread(target=serve, args=(listener,), daemon=True).start()
    return listener


if __name__ == "__main__":
    serve(listen(("0.0.0.0", int(sys.argv[1]))))
