"""/build (docker's classic builder protocol), /build/prune and /commit."""
from __future__ import annotations

import base64
import binascii
import json
from typing import Dict, Iterator, List, Optional

from rootless.api import types
from rootless.api.decode import decode
from rootless.api.http import Request, Response, Route, Router, StreamResponse
from rootless.api.registry_auth import credentials
from rootless.api.routes.images import HangupWatcher
from rootless.build.builder import BuildOptions
from rootless.engine import Engine
from rootless.engine.build import BuildJob
from rootless.errors import InvalidArgument
from rootless.registry.auth import Credentials
from rootless.wire.filters import parse_query

CONFIG_HEADER = "X-Registry-Config"

# Parameters of POST /build that would change the result but are not applied here: refused
# when set to anything but their "unset" value (the docker CLI always sends some of them).
UNSUPPORTED = ("remote", "squash", "extrahosts", "memory", "memswap", "cpushares", "cpusetcpus", "cpuperiod",
               "cpuquota", "shmsize", "isolation", "outputs")
UNSET = ("", "0", "false", "[]", "{}", "null", "default")


def _string_map(request: Request, name: str) -> Dict[str, str]:
    value = request.q_json(name, {})
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid {name}: must be a JSON object")
    # a null value: the CLI's --build-arg NAME with NAME unset in its environment (ARG keeps its default)
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _options(engine: Engine, request: Request) -> BuildOptions:
    for name in UNSUPPORTED:
        value = request.q(name)
        if value is not None and value.strip().lower() not in UNSET:
            raise InvalidArgument(f"build: {name}={value}: not supported by rootless's builder")
    cache_from = request.q_json("cachefrom", [])
    if cache_from:
        raise InvalidArgument("build: cachefrom: not supported (the cache is local and content-addressed)")
    tags: List[str] = []
    for tag in request.q_all("t"):
        ref = engine.images.parse(tag)
        if ref.digest:
            raise InvalidArgument(f"invalid tag {tag}: a tag can't hold a digest")
        tags.append(str(ref))
    return BuildOptions(
        dockerfile=request.q("dockerfile") or "Dockerfile", tags=tags,
        build_args=_string_map(request, "buildargs"), target=request.q("target") or None,
        no_cache=request.q_bool("nocache"), pull=request.q_bool("pull"), labels=_string_map(request, "labels"),
        network=request.q("networkmode") or "default", platform=request.q("platform") or None,
        remove=request.q_bool("rm", True), force_remove=request.q_bool("forcerm"),
        secrets={str(s): "" for s in _string_list(request, "secrets")})


def _string_list(request: Request, name: str) -> List[str]:
    """A rootless extension: ?secrets=["id", ...] names files our CLI put in the context tar."""
    value = request.q_json(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidArgument(f"invalid {name}: must be a JSON list of names")
    return list(value)


def registry_config(header: Optional[str]) -> Dict[str, Credentials]:
    """X-Registry-Config: base64url(JSON {registry: AuthConfig}), what the docker CLI sends for FROM pulls."""
    if not header:
        return {}
    try:
        data = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise InvalidArgument(f"invalid {CONFIG_HEADER} header: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"invalid {CONFIG_HEADER} header: not a JSON object")
    found: Dict[str, Credentials] = {}
    for registry, value in data.items():
        if not isinstance(value, dict):
            raise InvalidArgument(f"invalid {CONFIG_HEADER} header: {registry}: not a JSON object")
        creds = credentials(decode(types.AuthConfig, value, f"{CONFIG_HEADER} {registry}"), CONFIG_HEADER)
        if creds is not None:
            found[str(registry)] = creds
    return found


def build(engine: Engine, request: Request) -> StreamResponse:
    if request.body is None:
        raise InvalidArgument("build: the request body must be the build context (a tar)")
    auth = registry_config(request.headers.get(CONFIG_HEADER))
    job = engine.builds.start(request.body, _options(engine, request), auth)
    return StreamResponse(_stream(job, request, request.q_bool("q")))


def _stream(job: BuildJob, request: Request, quiet: bool) -> Iterator[bytes]:
    """The build's lines; a client that hangs up (Ctrl-C of docker build) cancels the build."""
    watcher = HangupWatcher(request.connection, job.cancel) if request.connection is not None else None
    events = job.events()
    try:
        for event in events:
            if quiet and "stream" in event:
                continue
            yield json.dumps(event).encode() + b"\n"
            if quiet and "aux" in event:  # moby's postBuild: -q prints just the id
                yield json.dumps({"stream": event["aux"]["ID"] + "\n"}).encode() + b"\n"
    except GeneratorExit:
        job.cancel()
        raise
    finally:
        if watcher is not None:
            watcher.stop()
        events.close()


def prune(engine: Engine, request: Request) -> Response:
    """POST /build/prune: all, filters and keep-storage as docker's CLI sends them."""
    for name in ("reserved-space", "max-used-space", "min-free-space"):  # API 1.48's, not served here
        if request.q_int(name, 0):
            raise InvalidArgument(f"build prune: {name} is not supported by rootless", hint="use keep-storage")
    # all=: no entry is in use or shared once its build ends, so all and unused are the same set
    filters = parse_query(request.q("filters"))
    return Response.json(engine.builds.prune(filters, request.q_int("keep-storage", 0) or 0))


def commit(engine: Engine, request: Request) -> Response:
    container = request.q("container")
    if not container:
        raise InvalidArgument("commit: container is required")
    body = request.json({}) or {}
    if not isinstance(body, dict):
        raise InvalidArgument("commit: the body must be a container config (a JSON object)")
    changes = [c for value in request.q_all("changes") for c in value.split("\n") if c.strip()]
    image_id = engine.builds.commit(container, request.q("repo") or None, request.q("tag") or None,
                                    request.q("comment") or "", request.q("author") or "", changes, body,
                                    request.q_bool("pause", True))
    return Response.json({"Id": image_id}, 201)


ROUTES: List[Route] = [
    ("POST", "/build", build),
    ("POST", "/build/prune", prune),
    ("POST", "/commit", commit),
]


def register(router: Router, engine: Engine) -> None:
    router.bind(engine, ROUTES)
