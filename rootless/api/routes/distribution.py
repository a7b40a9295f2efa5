"""/distribution/{name}/json: what the registry holds under a name (docker-py's images.get_registry_data)."""
from __future__ import annotations

from typing import Dict, List, Optional

from rootless.api.http import Request, Response, Route, Router
from rootless.engine import Engine
from rootless.engine.images import decode_registry_auth
from rootless.errors import InvalidArgument


def _auth(header: Optional[str]) -> Optional[Dict[str, str]]:
    # dockerd ignores an X-Registry-Auth it can't decode here ("to increase compatibility
    # with the existing API", router/distribution): the request goes on anonymously.
    try:
        return decode_registry_auth(header)
    except InvalidArgument:
        return None


def inspect(engine: Engine, request: Request) -> Response:
    auth = _auth(request.headers.get("X-Registry-Auth"))
    return Response.json(engine.images.inspect_distribution(request.params["name"], auth))


ROUTES: List[Route] = [
    ("GET", "/distribution/{name:path}/json", inspect),
]


def register(router: Router, engine: Engine) -> None:
    router.bind(engine, ROUTES)
