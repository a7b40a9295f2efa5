"""/networks: network objects (records and endpoints; every container still gets
its own slirp4netns network, see README "Networks")."""
from __future__ import annotations

from typing import List

from rootless.api import types
from rootless.wire.filters import parse_query
from rootless.api.http import Request, Response, Route, Router
from rootless.api.support import decode_request
from rootless.engine import Engine


def create(engine: Engine, request: Request) -> Response:
    spec = decode_request(types.NetworkCreate, request.json())
    ipam = (spec.IPAM.Config if spec.IPAM else None) or [types.IPAMConfig()]
    network = engine.networks.create(
        spec.Name, spec.Driver or "bridge", ipam[0].Subnet or None, ipam[0].Gateway or None,
        spec.Labels or {}, spec.Internal, spec.Attachable, spec.Options or {})
    engine.events.publish("network", "create", network.network_id, name=network.name, type="bridge")
    return Response.json({"Id": network.network_id, "Warning": ""}, 201)


def list_(engine: Engine, request: Request) -> Response:
    return Response.json([n.to_json() for n in engine.networks.list(parse_query(request.q("filters")))])


def inspect(engine: Engine, request: Request) -> Response:
    return Response.json(engine.networks.get(request.params["ref"]).to_json())


def remove(engine: Engine, request: Request) -> Response:
    network = engine.remove_network(request.params["ref"])
    engine.events.publish("network", "destroy", network.network_id, name=network.name, type="bridge")
    return Response.empty(204)


def connect(engine: Engine, request: Request) -> Response:
    spec = decode_request(types.NetworkConnect, request.json())
    container = engine.containers.get(spec.Container)
    config = spec.EndpointConfig or types.EndpointSettings()
    address = (config.IPAMConfig.IPv4Address if config.IPAMConfig else "") or None
    engine.containers.connect_network(container, request.params["ref"], config.Aliases or [], address)
    return Response(200, b"", "text/plain")


def disconnect(engine: Engine, request: Request) -> Response:
    spec = decode_request(types.NetworkDisconnect, request.json())
    container = engine.containers.get(spec.Container)
    engine.containers.disconnect_network(container, request.params["ref"], spec.Force)
    return Response(200, b"", "text/plain")


def prune(engine: Engine, request: Request) -> Response:
    deleted = engine.prune_networks(parse_query(request.q("filters")))
    return Response.json({"NetworksDeleted": deleted or None})


ROUTES: List[Route] = [
    ("POST", "/networks/create", create),
    ("GET", "/networks", list_),
    ("GET", "/networks/{ref}", inspect),
    ("DELETE", "/networks/{ref}", remove),
    ("POST", "/networks/{ref}/connect", connect),
    ("POST", "/networks/{ref}/disconnect", disconnect),
    ("POST", "/networks/prune", prune),
]


def register(router: Router, engine: Engine) -> None:
    router.bind(engine, ROUTES)
