"""/swarm, /services, /nodes, /tasks, /secrets, /configs: a node that never joins a swarm.

rootless has no swarm mode, so it answers these the way dockerd answers on a
node outside any swarm (daemon/cluster: errNoManager, errNoSwarm), with 503.
Clients rely on the status, not just the text: docker-py's
`swarm.leave(force=True)` treats 503 as "not in a swarm", and a 404 here
would make their clean-up fail.
"""
from __future__ import annotations

from typing import Any, List

from rootless.api.http import Request, Route, Router
from rootless.errors import Unavailable

# dockerd's words (daemon/cluster/helpers.go errNoManager, errors.go errNoSwarm).
NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
                 "to connect this node to swarm and try again.")
NOT_IN_A_SWARM = "This node is not part of a swarm"


def not_a_manager(engine: Any, request: Request) -> Any:
    raise Unavailable(NOT_A_MANAGER)


def leave(engine: Any, request: Request) -> Any:
    raise Unavailable(NOT_IN_A_SWARM)


def init_or_join(engine: Any, request: Request) -> Any:
    # dockerd would create or join a swarm here; we cannot, so say so rather than pretend.
    action = request.path.rsplit("/", 1)[-1]
    raise Unavailable(f"swarm {action}: not supported: rootless has no swarm mode",
                      hint="run multi-container applications with docker compose instead")


_MANAGER_ROUTES = [
    ("GET", "/swarm"), ("GET", "/swarm/unlockkey"), ("POST", "/swarm/update"), ("POST", "/swarm/unlock"),
    ("GET", "/services"), ("GET", "/services/{id}"), ("POST", "/services/create"),
    ("POST", "/services/{id}/update"), ("DELETE", "/services/{id}"), ("GET", "/services/{id}/logs"),
    ("GET", "/nodes"), ("GET", "/nodes/{id}"), ("DELETE", "/nodes/{id}"), ("POST", "/nodes/{id}/update"),
    ("GET", "/tasks"), ("GET", "/tasks/{id}"), ("GET", "/tasks/{id}/logs"),
    ("GET", "/secrets"), ("POST", "/secrets/create"), ("DELETE", "/secrets/{id}"), ("GET", "/secrets/{id}"),
    ("POST", "/secrets/{id}/update"),
    ("GET", "/configs"), ("POST", "/configs/create"), ("DELETE", "/configs/{id}"), ("GET", "/configs/{id}"),
    ("POST", "/configs/{id}/update"),
]

ROUTES: List[Route] = [
    *((method, path, not_a_manager) for method, path in _MANAGER_ROUTES),
    ("POST", "/swarm/leave", leave),
    ("POST", "/swarm/init", init_or_join),
    ("POST", "/swarm/join", init_or_join),
]


def register(router: Router, engine: Any) -> None:
    router.bind(engine, ROUTES)
