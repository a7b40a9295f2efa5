from __future__ import annotations

import json
import os
import threading

import pytest

from rootless.api.filters import parse_filters
from rootless.api.http import (Request, Response, Router, StreamResponse, UnixApiServer, check_version,
                               split_version)
from rootless.client import transport
from rootless.client.api import APIClient
from rootless.errors import Conflict, InvalidArgument, NotFound, error_from_status


def test_version_prefix_is_split_and_checked():
    assert split_version("/v1.44/containers/json") == ("1.44", "/containers/json")
    assert split_version("/containers/json") == (None, "/containers/json")
    assert check_version("1.41") == "1.41"
    with pytest.raises(InvalidArgument, match="client version 1.99 is too new"):
        check_version("1.99")
    with pytest.raises(InvalidArgument, match="too old"):
        check_version("1.12")


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
    assert parse_filters('{"name":["x"]}') == {"name": ["x"]}
    assert parse_filters('{"name":{"x":true,"y":false}}') == {"name": ["x"]}
    with pytest.raises(InvalidArgument):
        parse_filters("{nope")


def test_status_maps_back_to_the_kind():
    assert isinstance(error_from_status(404, "No such container: x"), NotFound)
    assert isinstance(error_from_status(409, "busy"), Conflict)


@pytest.fixture()
def server(tmp_path):
    router = Router()

    @router.get("/hello/{name}")
    def hello(request: Request) -> Response:
        return Response.json({"hello": request.params["name"], "v": request.api_version})

    @router.post("/echo")
    def echo(request: Request) -> Response:
        return Response.json(request.json())

    @router.get("/missing")
    def missing(request: Request) -> Response:
        raise NotFound("No such container: nope")

    @router.get("/stream")
    def stream(request: Request) -> StreamResponse:
        def chunks():
            yield b'{"status":"one"}\n'
            yield b'{"status":"two"}\n'
            raise InvalidArgument("went wrong")
        return StreamResponse(chunks())

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
