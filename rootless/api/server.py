"""Builds the router from the route modules and serves it on a UNIX socket."""
from __future__ import annotations

import os
import socket
from typing import Optional

from rootless.api.http import Router, UnixApiServer
from rootless.api.routes import containers, execs, images, networks, swarm, system, volumes
from rootless.engine import Engine

# Each module's register(router, engine) adds its routes; order does not matter.
REGISTRARS = (
    system.register,
    containers.register,
    execs.register,
    volumes.register,
    images.register,
    networks.register,
    swarm.register,
)


def build_router(engine: Engine) -> Router:
    router = Router()
    for register in REGISTRARS:
        register(router, engine)
    return router


def make_server(engine: Engine, path: str, listener: Optional[socket.socket] = None) -> UnixApiServer:
    """Bind the API socket (mode 0600) or adopt a socket-activated listener."""
    router = build_router(engine)
    if listener is not None:
        return UnixApiServer(router, listener=listener, path=path)
    old_umask = os.umask(0o177)
    try:
        server = UnixApiServer(router, path=path)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    return server
