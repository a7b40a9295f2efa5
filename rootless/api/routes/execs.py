"""/containers/{id}/exec and /exec/{id}/...: docker exec."""
from __future__ import annotations

from rootless.api.http import Hijack, Request, Response, Router
from rootless.api.routes.containers import stream_content_type
from rootless.engine import Engine


def register(router: Router, engine: Engine) -> None:
    execs = engine.execs

    @router.post("/containers/{ref}/exec")
    def create(request: Request) -> Response:
        session = execs.create(engine.containers.get(request.params["ref"]), request.json())
        return Response.json({"Id": session.exec_id}, 201)

    @router.post("/exec/{exec_id}/start")
    def start(request: Request) -> "Response | Hijack":
        session = execs.get(request.params["exec_id"])
        body = request.json()
        detach = bool(body.get("Detach"))
        execs.start(session, detach)
        if detach:
            return Response(200, b"", "application/json")
        return Hijack(lambda sock, rfile: execs.serve(session, sock, rfile),
                      stream_content_type(request, session.tty))

    @router.get("/exec/{exec_id}/json")
    def inspect(request: Request) -> Response:
        return Response.json(execs.get(request.params["exec_id"]).inspect())

    @router.post("/exec/{exec_id}/resize")
    def resize(request: Request) -> Response:
        execs.resize(execs.get(request.params["exec_id"]), request.q_int("h", 0) or 0, request.q_int("w", 0) or 0)
        return Response(200, b"", "text/plain")
