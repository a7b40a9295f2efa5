"""/networks: network objects (records and endpoints; every container still gets
its own slirp4netns network, see README "Networks")."""
from __future__ import annotations

from typing import List, Optional, Tuple

from rootless.api import types
from rootless.wire.filters import parse_query
from rootless.api.http import Request, Response, Route, Router
from rootless.api.support import decode_request
from rootless.engine import Engine, endpoints
from rootless.errors import InvalidArgument
from rootless.networks import ipam


def _by_family(configs: List[types.IPAMConfig]) -> Tuple[types.IPAMConfig, types.IPAMConfig]:
    """The IPv4 and the IPv6 entry of IPAM.Config (support.py allows one of each)."""
    v4 = [c for c in configs if not ipam.is_ipv6(c.Subnet or c.Gateway)]
    v6 = [c for c in configs if ipam.is_ipv6(c.Subnet or c.Gateway)]
    return (v4 or [types.IPAMConfig()])[0], (v6 or [types.IPAMConfig()])[0]


def _ip_range(v4: types.IPAMConfig, v6: types.IPAMConfig) -> Optional[str]:
    """IPAM.Config[].IPRange: applied on the IPv4 subnet; refused on IPv6 (not applied there yet)."""
    if v6.IPRange:
        raise InvalidArgument(f"can't create network: IPAM.Config.IPRange {v6.IPRange}: "
                              "IP ranges on IPv6 subnets are not supported yet",
                              hint="give --ip-range for the IPv4 subnet only")
    if v4.IPRange and not v4.Subnet:
        raise InvalidArgument(f"invalid ip-range {v4.IPRange}: no subnet given", hint="add --subnet")
    return v4.IPRange or None


def create(engine: Engine, request: Request) -> Response:
    spec = decode_request(types.NetworkCreate, request.json())
    v4, v6 = _by_family(list((spec.IPAM.Config if spec.IPAM else None) or []))
    network = engine.networks.create(
        spec.Name, spec.Driver or "bridge", v4.Subnet or None, v4.Gateway or None,
        spec.Labels or {}, spec.Internal, spec.Attachable, spec.Options or {},
        ipv6=bool(spec.EnableIPv6), subnet6=v6.Subnet or None, gateway6=v6.Gateway or None,
        ip_range=_ip_range(v4, v6))
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
    endpoints.check_user_defined(engine.networks.get(request.params["ref"]).name, config)
    address = (config.IPAMConfig.IPv4Address if config.IPAMConfig else "") or None
    engine.containers.connect_network(container, request.params["ref"], config.Aliases or [], address,
                                      endpoints.details_of(config))
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
    ("GET", "/networks/{ref:path}", inspect),
    ("DELETE", "/networks/{ref:path}", remove),
    ("POST", "/networks/{ref:path}/connect", connect),
    ("POST", "/networks/{ref:path}/disconnect", disconnect),
    ("POST", "/networks/prune", prune),
]


def register(router: Router, engine: Engine) -> None:
    router.bind(engine, ROUTES)
