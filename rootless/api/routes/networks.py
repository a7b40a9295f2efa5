"""/networks: network objects (records and endpoints; every container still gets
its own slirp4netns network, see README "Networks")."""
from __future__ import annotations

from rootless.api.filters import parse_filters
from rootless.api.http import Request, Response, Router
from rootless.engine import Engine
from rootless.errors import InvalidArgument


def register(router: Router, engine: Engine) -> None:
    networks = engine.networks

    @router.post("/networks/create")
    def create(request: Request) -> Response:
        body = request.json()
        if not body.get("Name"):
            raise InvalidArgument("network name is required")
        ipam = (body.get("IPAM") or {}).get("Config") or [{}]
        network = networks.create(body["Name"], body.get("Driver") or "bridge", ipam[0].get("Subnet"),
                                  ipam[0].get("Gateway"), body.get("Labels") or {}, bool(body.get("Internal")),
                                  bool(body.get("Attachable")), body.get("Options") or {})
        engine.events.publish("network", "create", network.network_id, name=network.name, type="bridge")
        return Response.json({"Id": network.network_id, "Warning": ""}, 201)

    @router.get("/networks")
    def list_(request: Request) -> Response:
        return Response.json([n.to_json() for n in networks.list(parse_filters(request.q("filters")))])

    @router.get("/networks/{ref}")
    def inspect(request: Request) -> Response:
        return Response.json(networks.get(request.params["ref"]).to_json())

    @router.delete("/networks/{ref}")
    def remove(request: Request) -> Response:
        network = networks.remove(request.params["ref"])
        engine.events.publish("network", "destroy", network.network_id, name=network.name, type="bridge")
        return Response.empty(204)

    @router.post("/networks/{ref}/connect")
    def connect(request: Request) -> Response:
        body = request.json()
        container = engine.containers.get(body.get("Container") or "")
        config = body.get("EndpointConfig") or {}
        address = ((config.get("IPAMConfig") or {}).get("IPv4Address")) or None
        network = networks.get(request.params["ref"])
        networks.connect(network.network_id, container.id, container.name, config.get("Aliases") or [], address)
        engine.events.publish("network", "connect", network.network_id, container=container.id,
                              name=network.name, type="bridge")
        return Response(200, b"", "text/plain")

    @router.post("/networks/{ref}/disconnect")
    def disconnect(request: Request) -> Response:
        body = request.json()
        container = engine.containers.get(body.get("Container") or "")
        network = networks.get(request.params["ref"])
        networks.disconnect(network.network_id, container.id, bool(body.get("Force")))
        engine.events.publish("network", "disconnect", network.network_id, container=container.id,
                              name=network.name, type="bridge")
        return Response(200, b"", "text/plain")

    @router.post("/networks/prune")
    def prune(request: Request) -> Response:
        deleted = networks.prune(parse_filters(request.q("filters")))
        return Response.json({"NetworksDeleted": deleted or None})
