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
    # No name: dockerd generates one and labels the volume anonymous, so a plain prune takes it.
    volume = engine.volumes.create(spec.Name or None, spec.Driver or "local", spec.Labels or {},
                                   spec.DriverOpts or {}, anonymous=not spec.Name)
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
    filters = parse_query(request.q("filters"))
    if not request.at_least("1.42"):
        # Before API 1.42 prune took every unused volume; moby keeps that by adding all=true
        # (a set, as Go's filters.Args: an old client's own all=false makes two values, a 400).
        filters["all"] = sorted(set(filters.get("all", [])) | {"true"})
    deleted, space = engine.prune_volumes(filters)
    return Response.json({"VolumesDeleted": deleted, "SpaceReclaimed": space})  # [] when none, as moby


ROUTES: List[Route] = [
    ("POST", "/volumes/create", create),
    ("GET", "/volumes", list_),
    ("GET", "/volumes/{name}", inspect),
    ("DELETE", "/volumes/{name}", remove),
    ("POST", "/volumes/prune", prune),
]


def register(router: Router, engine: Engine) -> None:
    router.bind(engine, ROUTES)
