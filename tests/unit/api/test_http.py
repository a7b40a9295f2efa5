from __future__ import annotations

import json
import os
import socket
import threading
import time
from types import SimpleNamespace
from typing import List

import pytest

from rootless.wire.filters import parse_query
from rootless.api.http import (Limits, Request, Response, Route, Router, StreamResponse, UnixApiServer, check_version,
                               peer_closed)
from rootless.api.server import connection_cap
from rootless.client import transport
from rootless.client.api import APIClient
from rootless.errors import Conflict, InvalidArgument, NotFound, error_from_status
from rootless.wire import versions


def test_version_prefix_is_split_and_checked():
    assert versions.split_path("/v1.44/containers/json") == ("1.44", "/containers/json")
    assert versions.split_path("/containers/json") == (None, "/containers/json")
    assert check_version("1.41") == "1.41"
    with pytest.raises(InvalidArgument, match="client version 1.99 is too new"):
        check_version("1.99")
    with pytest.raises(InvalidArgument, match="too old"):
        check_version("1.12")
    assert check_version("1.44.0") == "1.44.0"  # compared per part, as docker does
    with pytest.raises(InvalidArgument, match="client version 1.100 is too new"):
        check_version("1.100")


def test_router_matches_params_and_paths_with_slashes():
    router = Router()
    router.add("GET", "/containers/{id}/json", lambda r: Response.json(r.params))
    router.add("GET", "/images/{name:path}/json", lambda r: Response.json(r.params))
    handler, params, _ = router.match("GET", "/containers/abc/json")
    assert params == {"id": "abc"}
    _, params, _ = router.match("GET", "/images/127.0.0.1:5000/busybox:latest/json")
    assert params == {"name": "127.0.0.1:5000/busybox:latest"}
    handler, _, exists = router.match("POST", "/containers/abc/json")
    assert handler is None and exists


def test_filters_accept_both_client_spellings():
    assert parse_query('{"name":["x"]}') == {"name": ["x"]}
    assert parse_query('{"name":{"x":true,"y":false}}') == {"name": ["x"]}
    with pytest.raises(InvalidArgument):
        parse_query("{nope")


def test_status_maps_back_to_the_kind():
    assert isinstance(error_from_status(404, "No such container: x"), NotFound)
    assert isinstance(error_from_status(409, "busy"), Conflict)


def hello(_engine: object, request: Request) -> Response:
    return Response.json({"hello": request.params["name"], "v": request.api_version})


def echo(_engine: object, request: Request) -> Response:
    return Response.json(request.json())


def missing(_engine: object, request: Request) -> Response:
    raise NotFound("No such container: nope")


def stream(_engine: object, request: Request) -> StreamResponse:
    def chunks():
        yield b'{"status":"one"}\n'
        yield b'{"status":"two"}\n'
        raise InvalidArgument("went wrong")
    return StreamResponse(chunks())


ROUTES: List[Route] = [
    ("GET", "/hello/{name}", hello),
    ("POST", "/echo", echo),
    ("GET", "/missing", missing),
    ("GET", "/stream", stream),
]


@pytest.fixture()
def server(tmp_path):
    router = Router()
    router.bind(None, ROUTES)

    path = str(tmp_path / "api.sock")
    srv = UnixApiServer(router, path=path)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield path
    srv.shutdown()
    srv.server_close()


def test_roundtrip_json_errors_and_streams(server):
    client = APIClient(server)
    assert client._json("GET", "/v1.41/hello/w%20x") == {"hello": "w x", "v": "1.41"}
    assert client._json("POST", "/echo", json_body={"a": [1, 2]}) == {"a": [1, 2]}
    with pytest.raises(NotFound, match="No such container: nope"):
        client._json("GET", "/missing")
    lines = list(client._stream_json("GET", "/stream"))
    assert lines[:2] == [{"status": "one"}, {"status": "two"}]
    assert lines[2] == {"errorDetail": {"message": "went wrong"}, "error": "went wrong"}


def test_chunked_request_body(server):
    import io
    response = transport.request(server, "POST", "/echo", body_stream=io.BytesIO(json.dumps({"k": "v"}).encode()))
    assert response.status == 200
    assert response.json() == {"k": "v"}


# -- hostile clients (issue 7): raw bytes over a socket in tmp_path ----------------------------


def start_server(path, router, **limits):
    srv = UnixApiServer(router, path=str(path), limits=Limits(**limits))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def raw(path, data: bytes, timeout: float = 10.0) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))
        s.sendall(data)
        s.settimeout(timeout)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return out + b"<EOF>"
                out += chunk
        except socket.timeout:
            return out


def block(events: SimpleNamespace, request: Request) -> StreamResponse:
    """Streams until the client goes away (or the test releases it); events.gone says which."""
    def chunks():
        yield b""
        while not request.client_gone() and not events.release.wait(0.05):
            pass
        events.gone.set()
        yield b"done\n"
    return StreamResponse(chunks())


@pytest.fixture()
def hostile(tmp_path):
    release = threading.Event()
    gone = threading.Event()
    router = Router()
    # The "engine" bound to the handlers is what they share with the test.
    router.bind(SimpleNamespace(release=release, gone=gone), [("POST", "/echo", echo), ("GET", "/block", block)])

    path = tmp_path / "api.sock"
    srv = start_server(path, router, max_connections=2, max_json_body=100, header_timeout=0.5)
    yield path, release, gone
    release.set()
    srv.shutdown()
    srv.server_close()


def test_stdlib_errors_are_docker_json(hostile):
    path, _, _ = hostile
    for data, status in ((b"GARBAGE\r\n\r\n", 400), (b"BREW /echo HTTP/1.1\r\n\r\n", 501),
                         (b"GET /echo HTTP/1.1\r\nX: " + b"y" * 70000 + b"\r\n\r\n", 431)):
        answer = raw(path, data)
        assert answer.startswith(b"HTTP/1.1 %d " % status), answer
        assert b"Content-Type: application/json\r\n" in answer and b"Connection: close\r\n" in answer
        assert answer.endswith(b"<EOF>") and b"<html" not in answer.lower()
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1][:-5])["message"]


def test_bad_framing_and_big_json_are_400(hostile):
    path, _, _ = hostile
    answer = raw(path, b"POST /echo HTTP/1.1\r\nContent-Length: -5\r\n\r\n{}")
    assert answer.startswith(b"HTTP/1.1 400 ") and b"invalid Content-Length" in answer and answer.endswith(b"<EOF>")
    answer = raw(path, b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\n{}\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ") and b"invalid chunk size" in answer and answer.endswith(b"<EOF>")
    body = json.dumps({"k": "v" * 200}).encode()
    answer = raw(path, b"POST /echo HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    assert answer.startswith(b"HTTP/1.1 400 ") and b"request body too large: more than 100 bytes" in answer


def test_an_unread_body_is_dropped_and_the_connection_kept(hostile):
    path, _, _ = hostile
    answer = raw(path, b"POST /nowhere HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                       b"POST /echo HTTP/1.1\r\nContent-Length: 8\r\nConnection: close\r\n\r\n{\"a\": 1}")
    assert answer.count(b"HTTP/1.1 ") == 2, answer
    assert b"404 Not Found" in answer and answer.endswith(b'{"a": 1}\n<EOF>')


def test_gone_clients_are_noticed_and_the_cap_answers_503(hostile):
    path, release, gone = hostile
    first = socket.socket(socket.AF_UNIX)
    first.connect(str(path))
    first.sendall(b"GET /block HTTP/1.1\r\n\r\n")
    assert first.recv(65536).startswith(b"HTTP/1.1 200 ")
    with socket.socket(socket.AF_UNIX) as second:
        second.connect(str(path))
        second.sendall(b"GET /block HTTP/1.1\r\n\r\n")
        assert second.recv(65536).startswith(b"HTTP/1.1 200 ")
        answer = raw(path, b"GET /echo HTTP/1.1\r\n\r\n")  # the third: over max_connections=2
        assert answer.startswith(b"HTTP/1.1 503 ") and b'"too many connections: 2 open' in answer
        first.close()
        assert gone.wait(3)  # the blocked handler saw its client leave
    release.set()


def test_slow_headers_are_cut_off(hostile):
    path, _, _ = hostile
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))
        s.sendall(b"GET /echo HTTP/1.1\r\n")
        started = time.monotonic()
        s.settimeout(0.1)
        while True:
            try:
                if s.recv(1) == b"":
                    break
            except socket.timeout:
                s.sendall(b"X")  # trickling: a per-read timeout would never trip
            assert time.monotonic() - started < 10  # generous: a loaded CI host schedules the cut-off thread late
        assert time.monotonic() - started >= 0.4


def test_peer_closed_sees_hangups_not_pipelined_data_or_half_closes(tmp_path):
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "s"))
    listener.listen(1)
    client = socket.socket(socket.AF_UNIX)
    client.connect(str(tmp_path / "s"))
    server, _ = listener.accept()
    assert not peer_closed(server)
    client.sendall(b"GET /next HTTP/1.1\r\n\r\n")
    assert not peer_closed(server)
    client.shutdown(socket.SHUT_WR)  # done sending, still reading: not gone
    assert not peer_closed(server)
    client.close()
    assert peer_closed(server)
    server.close()
    assert peer_closed(server)
    listener.close()


def test_connection_cap_follows_the_fd_limit():
    assert connection_cap(1024, 1 << 20) == 1024
    assert connection_cap(1024, 1024) == (1024 - 128) // 2
    assert connection_cap(1024, 100) == 1
