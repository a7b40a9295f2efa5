"""/containers/...: create, list, inspect, lifecycle, wait, logs, attach, archive."""
from __future__ import annotations

import base64
import json
from typing import Any, Iterator

from rootless.api.filters import parse_filters
from rootless.api.http import Hijack, Request, Response, Router, StreamResponse
from rootless.engine import Engine
from rootless.errors import InvalidArgument

MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


def stream_content_type(request: Request, tty: bool) -> str:
    """Docker names the stdcopy stream from API 1.42 on; TTY output is raw."""
    return MULTIPLEXED if (not tty and request.at_least("1.42")) else RAW


def register(router: Router, engine: Engine) -> None:
    containers = engine.containers
    lifecycle = engine.lifecycle

    @router.post("/containers/create")
    def create(request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise InvalidArgument("config: body must be a JSON object")
        container = lifecycle.create(body, request.q("name") or None, request.q("platform"))
        return Response.json({"Id": container.id, "Warnings": []}, 201)

    @router.get("/containers/json")
    def list_(request: Request) -> Response:
        found = containers.list(request.q_bool("all"), parse_filters(request.q("filters")),
                                request.q_int("limit"))
        return Response.json([lifecycle.summary(c, request.q_bool("size")) for c in found])

    @router.get("/containers/{ref}/json")
    def inspect(request: Request) -> Response:
        return Response.json(lifecycle.inspect(containers.get(request.params["ref"]), request.q_bool("size")))

    @router.post("/containers/{ref}/start")
    def start(request: Request) -> Response:
        lifecycle.start(containers.get(request.params["ref"]))
        return Response.empty(204)

    @router.post("/containers/{ref}/stop")
    def stop(request: Request) -> Response:
        lifecycle.stop(containers.get(request.params["ref"]), request.q_int("t"), request.q("signal"))
        return Response.empty(204)

    @router.post("/containers/{ref}/restart")
    def restart(request: Request) -> Response:
        lifecycle.restart(containers.get(request.params["ref"]), request.q_int("t"), request.q("signal"))
        return Response.empty(204)

    @router.post("/containers/{ref}/kill")
    def kill(request: Request) -> Response:
        lifecycle.kill(containers.get(request.params["ref"]), request.q("signal") or "KILL")
        return Response.empty(204)

    @router.delete("/containers/{ref}")
    def remove(request: Request) -> Response:
        lifecycle.remove(containers.get(request.params["ref"]), request.q_bool("force"), request.q_bool("v"))
        return Response.empty(204)

    @router.post("/containers/{ref}/rename")
    def rename(request: Request) -> Response:
        containers.rename(request.params["ref"], request.q("name") or "")
        return Response.empty(204)

    @router.post("/containers/{ref}/wait")
    def wait(request: Request) -> StreamResponse:
        container = containers.get(request.params["ref"])
        condition = request.q("condition") or "not-running"

        def body() -> Iterator[bytes]:
            # Headers first: docker run blocks on them before it starts the container.
            yield b""
            yield json.dumps(containers.wait(container, condition)).encode() + b"\n"

        return StreamResponse(body(), json_lines=False)

    @router.post("/containers/{ref}/resize")
    def resize(request: Request) -> Response:
        lifecycle.resize(containers.get(request.params["ref"]), request.q_int("h", 0) or 0, request.q_int("w", 0) or 0)
        return Response(200, b"", "text/plain")

    @router.get("/containers/{ref}/logs")
    def logs(request: Request) -> StreamResponse:
        container = containers.get(request.params["ref"])
        stdout, stderr = request.q_bool("stdout"), request.q_bool("stderr")
        if not stdout and not stderr:
            raise InvalidArgument("You must choose at least one stream")
        chunks = lifecycle.logs(container, stdout=stdout, stderr=stderr, follow=request.q_bool("follow"),
                                tail=request.q("tail") or "all", since=request.q("since"),
                                until=request.q("until"), timestamps=request.q_bool("timestamps"))
        return StreamResponse(chunks, content_type=stream_content_type(request, container.tty), json_lines=False)

    @router.post("/containers/{ref}/attach")
    def attach(request: Request) -> Hijack:
        container = containers.get(request.params["ref"])
        session = lifecycle.attach_session(
            container, stdin=request.q_bool("stdin"), stdout=request.q_bool("stdout"),
            stderr=request.q_bool("stderr"), logs=request.q_bool("logs"), stream=request.q_bool("stream", True),
            detach_keys=request.q("detachKeys"))
        return Hijack(session.serve, stream_content_type(request, container.tty))

    @router.get("/containers/{ref}/top")
    def top(request: Request) -> Response:
        return Response.json(lifecycle.top(containers.get(request.params["ref"]), request.q("ps_args") or "-ef"))

    @router.get("/containers/{ref}/export")
    def export(request: Request) -> StreamResponse:
        return StreamResponse(lifecycle.export(containers.get(request.params["ref"])),
                              content_type="application/x-tar", json_lines=False)

    @router.head("/containers/{ref}/archive")
    def archive_head(request: Request) -> Response:
        stat = lifecycle.archive_stat(containers.get(request.params["ref"]), _path(request))
        return Response(200, None, headers={"X-Docker-Container-Path-Stat": _stat_header(stat)})

    @router.get("/containers/{ref}/archive")
    def archive_get(request: Request) -> StreamResponse:
        container = containers.get(request.params["ref"])
        stat, chunks = lifecycle.archive_get(container, _path(request))
        return StreamResponse(chunks, content_type="application/x-tar", json_lines=False,
                              headers={"X-Docker-Container-Path-Stat": _stat_header(stat)})

    @router.put("/containers/{ref}/archive")
    def archive_put(request: Request) -> Response:
        lifecycle.archive_put(containers.get(request.params["ref"]), _path(request), request.body,
                              no_overwrite_dir_non_dir=request.q_bool("noOverwriteDirNonDir"))
        return Response(200, b"", "text/plain")

    @router.post("/containers/prune")
    def prune(request: Request) -> Response:
        removed, space = lifecycle.prune(parse_filters(request.q("filters")))
        return Response.json({"ContainersDeleted": removed or None, "SpaceReclaimed": space})

    @router.post("/containers/{ref}/pause")
    def pause(request: Request) -> Response:
        lifecycle.pause(containers.get(request.params["ref"]))
        return Response.empty(204)

    @router.post("/containers/{ref}/unpause")
    def unpause(request: Request) -> Response:
        lifecycle.unpause(containers.get(request.params["ref"]))
        return Response.empty(204)

    @router.get("/containers/{ref}/stats")
    def stats(request: Request) -> Response:
        return Response.json(lifecycle.stats(containers.get(request.params["ref"])))

    @router.get("/containers/{ref}/changes")
    def changes(request: Request) -> Response:
        return Response.json(lifecycle.changes(containers.get(request.params["ref"])))


def _path(request: Request) -> str:
    path = request.q("path")
    if not path:
        raise InvalidArgument("path is required")
    return path


def _stat_header(stat: Any) -> str:
    return base64.b64encode(json.dumps(stat).encode()).decode()
