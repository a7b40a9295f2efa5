"""/containers/{id}/exec and /exec/{id}/...: docker exec."""
from __future__ import annotations

from typing import List

from rootless.api import types
from rootless.api.http import Hijack, Request, Response, Route, Router
from rootless.api.routes.containers import stream_content_type
from rootless.api.support import decode_request
from rootless.engine import Engine, container_io


def create(engine: Engine, request: Request) -> Response:
    spec = decode_request(types.ExecCreate, request.json())
    container_io.parse_detach_keys(spec.DetachKeys)  # refused at create, as dockerd ("Invalid escape keys")
    session = engine.execs.create(engine.containers.get(request.params["ref"]), spec)
    return Response.json({"Id": session.exec_id}, 201)


def start(engine: Engine, request: Request) -> "Response | Hijack":
    session = engine.execs.get(request.params["exec_id"])
    spec = decode_request(types.ExecStart, request.json())
    engine.execs.start(session, spec.Detach)
    if spec.Detach:
        return Response(200, b"", "application/json")
    # Framed by this request's Tty, as dockerd does, not by the create's.
    return Hijack(lambda sock, rfile: engine.execs.serve(session, sock, rfile, spec.Tty),
                  stream_content_type(request, spec.Tty))


def inspect(engine: Engine, request: Request) -> Response:
    return Response.json(engine.execs.get(request.params["exec_id"]).inspect())


def resize(engine: Engine, request: Request) -> Response:
    engine.execs.resize(engine.execs.get(request.params["exec_id"]), request.q_int("h", 0) or 0, request.q_int("w", 0) or 0)
    return Response(200, b"", "text/plain")


ROUTES: List[Route] = [
    ("POST", "/containers/{ref}/exec", create),
    ("POST", "/exec/{exec_id}/start", start),
    ("GET", "/exec/{exec_id}/json", inspect),
    ("POST", "/exec/{exec_id}/resize", resize),
]


def register(router: Router, engine: Engine) -> None:
    router.bind(engine, ROUTES)
