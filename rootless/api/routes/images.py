"""/images/...: pull, list, inspect, tag, remove, push, history, prune; /auth."""
from __future__ import annotations

import json
from typing import Any, Dict, Iterable, Iterator

from rootless.api.filters import parse_filters
from rootless.api.http import Request, Response, Router, StreamResponse
from rootless.engine import Engine
from rootless.engine.images import decode_registry_auth
from rootless.errors import InvalidArgument


def json_lines(events: Iterable[Dict[str, Any]]) -> Iterator[bytes]:
    for event in events:
        yield json.dumps(event).encode() + b"\n"


def _volume_usage(engine: Engine, body: Dict[str, Any], name: str) -> Dict[str, Any]:
    users = [c for c in engine.containers.all()
             if any(m.get("Name") == name for m in c.data.get("Mounts") or [])]
    body["UsageData"] = {"Size": -1, "RefCount": len(users)}  # sizes are not measured (docker: -1 too)
    return body


def register(router: Router, engine: Engine) -> None:
    images = engine.images

    @router.post("/images/create")
    def create(request: Request) -> StreamResponse:
        from_image = request.q("fromImage")
        if not from_image:
            return _import(request)
        auth = decode_registry_auth(request.headers.get("X-Registry-Auth"))
        job = images.pull(from_image, request.q("tag"), request.q("platform"), auth)
        return StreamResponse(json_lines(job.events()))

    def _import(request: Request) -> StreamResponse:
        if request.q("fromSrc") != "-":
            raise InvalidArgument("import: only fromSrc=- (the request body) is supported",
                                  hint="download the tarball first and import it from a file")
        body = images.import_image(request.body, request.q("repo"), request.q("tag"), request.q("message") or "",
                                   request.q_all("changes"))
        return StreamResponse(json_lines([body]))

    @router.get("/images/json")
    def list_(request: Request) -> Response:
        filters = parse_filters(request.q("filters"))
        if request.q("filter"):  # API < 1.41: ?filter=<reference>
            filters.setdefault("reference", []).append(request.q("filter") or "")
        return Response.json(images.list(filters, request.q_bool("digests"), request.api_version))

    @router.post("/images/prune")
    def prune(request: Request) -> Response:
        filters = parse_filters(request.q("filters"))
        all_images = any(v.lower() in ("false", "0") for v in filters.get("dangling", []))
        return Response.json(images.prune(all_images, filters.get("label")))

    @router.get("/images/get")
    def save_many(request: Request) -> StreamResponse:
        names = [n for value in request.q_all("names") for n in value.split(",") if n]
        return StreamResponse(images.save(names), content_type="application/x-tar", json_lines=False)

    @router.post("/images/load")
    def load(request: Request) -> StreamResponse:
        return StreamResponse(json_lines(images.load(request.body, request.q_bool("quiet"))))

    @router.get("/images/{name:path}/json")
    def inspect(request: Request) -> Response:
        return Response.json(images.inspect(request.params["name"], request.api_version))

    @router.get("/images/{name:path}/history")
    def history(request: Request) -> Response:
        return Response.json(images.history(request.params["name"]))

    @router.get("/images/{name:path}/get")
    def save_one(request: Request) -> StreamResponse:
        return StreamResponse(images.save([request.params["name"]]), content_type="application/x-tar",
                              json_lines=False)

    @router.post("/images/{name:path}/tag")
    def tag(request: Request) -> Response:
        repo = request.q("repo")
        if not repo:
            raise InvalidArgument("tag: repo is required")
        images.tag(request.params["name"], repo, request.q("tag"))
        return Response.empty(201)

    @router.post("/images/{name:path}/push")
    def push(request: Request) -> StreamResponse:
        auth = decode_registry_auth(request.headers.get("X-Registry-Auth"))
        job = images.push(request.params["name"], request.q("tag"), auth)
        return StreamResponse(json_lines(job.events()))

    @router.delete("/images/{name:path}")
    def remove(request: Request) -> Response:
        return Response.json(images.remove(request.params["name"], request.q_bool("force"),
                                           not request.q_bool("noprune")))

    @router.get("/system/df")
    def disk_usage(request: Request) -> Response:
        body = images.disk_usage(request.api_version)
        wanted = set(request.q_all("type")) or {"image", "container", "volume", "build-cache"}
        if "image" not in wanted:
            body = {"LayersSize": body["LayersSize"], "Images": []}
        body["Containers"] = ([engine.lifecycle.summary(c, True) for c in engine.containers.all()]
                              if "container" in wanted else [])
        body["Volumes"] = [_volume_usage(engine, v.to_json(), v.name) for v in engine.volumes.all()] \
            if "volume" in wanted else []
        body["BuildCache"] = []
        return Response.json(body)

    @router.post("/auth")
    def auth(request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise InvalidArgument("auth: body must be a JSON object")
        # ?store=1 is a rootless extension: its CLI lets the daemon keep the credentials.
        return Response.json(images.login(body.get("username") or "", body.get("password") or "",
                                          body.get("serveraddress") or None, request.q_bool("store")))

    @router.post("/auth/logout")
    def logout(request: Request) -> Response:
        # A rootless extension: docker's CLI logs out client-side.
        return Response.json(images.logout(request.q("serveraddress")))
