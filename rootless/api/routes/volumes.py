"""/volumes: create, list, inspect, remove, prune."""
from __future__ import annotations

from typing import List

from rootless.api import types
from rootless.wire.filters import parse_query
from rootless.api.http import Request, Response, Route, Router
from rootless.api.support import decode_request
from rootless.engine import Engine


def create(engine: Engine, request: Request) -> Response:
    spec = decode_request(types.VolumeCreate, request.json())
    volume = engine.volumes.create(spec.Name or None, spec.Driver or "local", spec.Labels or {},
                                   spec.DriverOpts or {})
    engine.events.publish("volume", "create", volume.name, driver="local")
    return Response.json(volume.to_json(), 201)


def list_(engine: Engine, request: Request) -> Response:
    found = engine.volumes.list(parse_query(request.q("filters")), lambda name: bool(engine.volume_users(name)))
    return Response.json({"Volumes": [v.to_json() for v in found], "Warnings": []})


def inspect(engine: Engine, request: Request) -> Response:
    return Response.json(engine.volumes.get(request.params["name"]).to_json())


def remove(engine: Engine, request: Request) -> Response:
    name = request.params["name"]
    engine.remove_volume(name, request.q_bool("force"))  # its destroy event too
    return Response.empty(204)


def prune(engine: Engine, request: Request) -> Response:
    deleted, space = engine.prune_volumes(parse_query(request.q("filters")))
    return Response.json({"VolumesDeleted": deleted or None, "SpaceReclaimed": space})


ROUTES: List[Route] = [
    ("POST", "/volumes/create", create),
    ("GET", "/volumes", list_),
    ("GET", "/volumes/{name}", inspect),
    ("DELETE", "/volumes/{name}", remove),
    ("POST", "/volumes/prune", prune),
]


def register(router: Router, engine: Engine) -> None:
    router.bind(engine, ROUTES)
