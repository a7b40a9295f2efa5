"""Builds the router from the route modules and serves it on a UNIX socket."""
from __future__ import annotations

import logging
import os
import resource
import socket
from typing import Optional

from rootless.api.http import Limits, Router, UnixApiServer
from rootless.api.routes import build, containers, distribution, execs, images, networks, swarm, system, volumes
from rootless.config import Settings
from rootless.engine import Engine

logger = logging.getLogger(__name__)

# Each module's register(router, engine) adds its routes; order does not matter.
REGISTRARS = (
    system.register,
    containers.register,
    execs.register,
    volumes.register,
    images.register,
    networks.register,
    swarm.register,
    distribution.register,
    build.register,
)
# Fds kept for the engine itself (store, monitors' pipes, pulls) whatever the clients do.
FD_RESERVE = 128


def build_router(engine: Engine) -> Router:
    router = Router()
    for register in REGISTRARS:
        register(router, engine)
    return router


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one, as dockerd's unit does; the new soft limit.

    The usual soft limit of 1024 is a few hundred idle clients away from EMFILE.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (OSError, ValueError) as exc:
            logger.warning("can't raise the open files limit to %d: %s", hard, exc)
    return soft


def connection_cap(configured: int, fd_limit: int) -> int:
    """max_connections, lowered so that clients (up to ~2 fds each: attach, exec) can't take the
    engine's last fds."""
    if fd_limit == resource.RLIM_INFINITY or fd_limit < 0:
        return configured
    return max(1, min(configured, (fd_limit - FD_RESERVE) // 2))


def limits_from(settings: Settings) -> Limits:
    fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    cap = connection_cap(settings.api_max_connections, fd_limit)
    if cap < settings.api_max_connections:
        logger.warning("serving at most %d connections, not %d: the open files limit is %d",
                       cap, settings.api_max_connections, fd_limit)
    return Limits(max_json_body=settings.api_max_json_body, max_connections=cap,
                  header_timeout=settings.api_header_timeout)


def make_server(engine: Engine, path: str, listener: Optional[socket.socket] = None) -> UnixApiServer:
    """Bind the API socket (mode 0600) or adopt a socket-activated listener."""
    router = build_router(engine)
    limits = limits_from(engine.settings)
    if listener is not None:
        return UnixApiServer(router, listener=listener, path=path, limits=limits)
    old_umask = os.umask(0o177)
    try:
        server = UnixApiServer(router, path=path, limits=limits)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    return server
