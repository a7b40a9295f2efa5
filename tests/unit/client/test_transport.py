"""The UNIX-socket HTTP client: bodies by length and chunked, and bodies cut short."""
from __future__ import annotations

import io
import os
import socket
from typing import List

import pytest

from rootless.client.transport import HttpResponse
from rootless.errors import Unavailable


def response(body: bytes, headers: dict) -> HttpResponse:
    left, right = socket.socketpair()  # a real socket for close(); the body comes from rfile
    right.close()
    return HttpResponse(left, io.BufferedReader(io.BytesIO(body)), 200, headers)  # type: ignore[arg-type]


CHUNKED = {"transfer-encoding": "chunked"}


def test_chunked_body_is_read_to_the_last_chunk() -> None:
    body = b'5\r\n{"a":\r\n3\r\n1}\n\r\n0\r\n\r\n'
    assert list(response(body, CHUNKED).iter_json()) == [{"a": 1}]


def test_content_length_body() -> None:
    assert response(b"hello", {"content-length": "5"}).read() == b"hello"


@pytest.mark.parametrize("body,headers", [
    (b'5\r\n{"a":\r\n', CHUNKED),               # no terminating chunk
    (b'9\r\n{"a":', CHUNKED),                   # a chunk cut in the middle
    (b"hel", {"content-length": "5"}),          # shorter than its length
])
def test_body_cut_off_is_an_error(body: bytes, headers: dict) -> None:
    seen: List[bytes] = []
    with pytest.raises(Unavailable, match="closed the connection before the end"):
        for data in response(body, headers).iter_raw():
            seen.append(data)


def test_body_without_length_ends_at_eof() -> None:
    assert response(b"until eof", {}).read() == b"until eof"


def _listening(tmp_path) -> "tuple[socket.socket, str]":
    path = str(tmp_path / "d.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    return server, path


def test_a_socket_served_by_another_user_gets_no_bytes(tmp_path, monkeypatch) -> None:
    """Issue 7: the peer uid is checked after connect and before the request is written.

    The daemon here is ours, so the CLI is made to believe it runs as another
    uid; tests/integration/test_peer_auth.py has a real second user.
    """
    from rootless.client import transport
    from rootless.errors import PermissionDenied
    from rootless.util import peercred

    server, path = _listening(tmp_path)
    monkeypatch.setattr(peercred.os, "geteuid", lambda: os.getuid() + 1)
    with server:
        with pytest.raises(PermissionDenied, match=f"^can't use rootlessd socket: {path}: served by uid"):
            transport.request(path, "POST", "/auth", body=b'{"password": "secret"}')
        conn, _ = server.accept()
        with conn:
            conn.settimeout(5)
            assert conn.recv(1024) == b""  # the client closed without sending anything


def test_a_socket_of_ours_gets_the_request(tmp_path) -> None:
    from rootless.client import transport

    server, path = _listening(tmp_path)
    with server:
        sock = transport.connect(path, timeout=5)
        with sock:
            sock.sendall(b"x")
            conn, _ = server.accept()
            with conn:
                assert conn.recv(1) == b"x"
