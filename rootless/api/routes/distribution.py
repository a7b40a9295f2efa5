"""/distribution/{name}/json: what the registry holds under a name (docker-py's images.get_registry_data)."""
from __future__ import annotations

from typing import List, Optional

from rootless.api.http import Request, Response, Route, Router
from rootless.api.registry_auth import request_credentials
from rootless.engine import Engine
from rootless.errors import InvalidArgument
from rootless.registry.auth import Credentials


def _credentials(request: Request) -> Optional[Credentials]:
    # dockerd ignores an X-Registry-Auth it can't decode here ("to increase compatibility
    # with the existing API", router/distribution): the request goes on anonymously.
    try:
        return request_credentials(request)
    except InvalidArgument:
        return None


def inspect(engine: Engine, request: Request) -> Response:
    return Response.json(engine.images.inspect_distribution(request.params["name"], _credentials(request)))


ROUTES: List[Route] = [
    ("GET", "/distribution/{name:path}/json", inspect),
]


def register(router: Router, engine: Engine) -> None:
    router.bind(engine, ROUTES)
