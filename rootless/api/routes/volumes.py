"""/volumes: create, list, inspect, remove, prune."""
from __future__ import annotations

from typing import List

from rootless.api.filters import parse_filters
from rootless.api.http import Request, Response, Router
from rootless.engine import Engine


def register(router: Router, engine: Engine) -> None:
    volumes = engine.volumes

    def users_of(name: str) -> List[str]:
        return [c.id for c in engine.containers.all()
                if any(m.get("Name") == name for m in c.data.get("Mounts") or [])]

    @router.post("/volumes/create")
    def create(request: Request) -> Response:
        body = request.json()
        volume = volumes.create(body.get("Name") or None, body.get("Driver") or "local",
                                body.get("Labels") or {}, body.get("DriverOpts") or {})
        engine.events.publish("volume", "create", volume.name, driver="local")
        return Response.json(volume.to_json(), 201)

    @router.get("/volumes")
    def list_(request: Request) -> Response:
        found = volumes.list(parse_filters(request.q("filters")), lambda name: bool(users_of(name)))
        return Response.json({"Volumes": [v.to_json() for v in found], "Warnings": []})

    @router.get("/volumes/{name}")
    def inspect(request: Request) -> Response:
        return Response.json(volumes.get(request.params["name"]).to_json())

    @router.delete("/volumes/{name}")
    def remove(request: Request) -> Response:
        name = request.params["name"]
        volumes.remove(name, request.q_bool("force"), users_of(name))
        engine.events.publish("volume", "destroy", name, driver="local")
        return Response.empty(204)

    @router.post("/volumes/prune")
    def prune(request: Request) -> Response:
        deleted, space = volumes.prune(lambda name: bool(users_of(name)), parse_filters(request.q("filters")))
        return Response.json({"VolumesDeleted": deleted or None, "SpaceReclaimed": space})
