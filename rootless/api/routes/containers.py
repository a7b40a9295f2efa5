"""/containers/...: create, list, inspect, lifecycle, wait, logs, attach, archive."""
from __future__ import annotations

import base64
import dataclasses
import json
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

from rootless.api import types
from rootless.wire import filters as f
from rootless.wire.filters import parse_query
from rootless.api.http import Hijack, Request, Response, Result, Route, Router, StreamResponse
from rootless.api.support import decode_request
from rootless.engine import Engine
from rootless.engine.events import ClientGone
from rootless.engine.container_model import Container
from rootless.errors import Conflict, InvalidArgument

STATS_INTERVAL = 1.0  # dockerd's collector samples every second
ZERO_TIME = "0001-01-01T00:00:00Z"
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


def stream_content_type(request: Request, tty: bool) -> str:
    """Docker names the stdcopy stream from API 1.42 on; TTY output is raw."""
    return MULTIPLEXED if (not tty and request.at_least("1.42")) else RAW


def create(engine: Engine, request: Request) -> Response:
    # Typed at the edge (api/types.py): a mistyped field is a 400 here, never a stored record.
    spec = decode_request(types.ContainerCreate, request.json())
    spec = with_default_userns(spec, engine.settings.userns)
    container = engine.containers.create(spec, request.q("name") or None, request.q("platform") or None)
    return Response.json({"Id": container.id, "Warnings": []}, 201)


def with_default_userns(spec: types.ContainerCreate, userns: str) -> types.ContainerCreate:
    """No --userns given: the configured default (keep-id in a Slurm job, issue 15); builds keep theirs."""
    host_config = spec.HostConfig or types.HostConfig()
    if not userns or host_config.UsernsMode:
        return spec
    host_config = dataclasses.replace(host_config, UsernsMode=userns,
                                      fields_set=host_config.fields_set | {"UsernsMode"})
    return dataclasses.replace(spec, HostConfig=host_config, fields_set=spec.fields_set | {"HostConfig"})


def list_(engine: Engine, request: Request) -> Response:
    found = engine.containers.list(request.q_bool("all"), parse_query(request.q("filters")),
                            request.q_int("limit"))
    return Response.json([engine.containers.summary(c, request.q_bool("size")) for c in found])


def inspect(engine: Engine, request: Request) -> Response:
    return Response.json(engine.containers.inspect(engine.containers.get(request.params["ref"]), request.q_bool("size")))


def start(engine: Engine, request: Request) -> Response:
    engine.containers.start(engine.containers.get(request.params["ref"]))
    return Response.empty(204)


def stop(engine: Engine, request: Request) -> Response:
    engine.containers.stop(engine.containers.get(request.params["ref"]), request.q_int("t"), request.q("signal"))
    return Response.empty(204)


def restart(engine: Engine, request: Request) -> Response:
    engine.containers.restart(engine.containers.get(request.params["ref"]), request.q_int("t"), request.q("signal"))
    return Response.empty(204)


def kill(engine: Engine, request: Request) -> Response:
    engine.containers.kill(engine.containers.get(request.params["ref"]), request.q("signal") or "KILL")
    return Response.empty(204)


def remove(engine: Engine, request: Request) -> Response:
    if request.q_bool("link"):  # docker rm --link /parent/alias: the link, not a container
        engine.containers.remove_link(request.params["ref"])
        return Response.empty(204)
    engine.containers.remove(engine.containers.get(request.params["ref"]), request.q_bool("force"), request.q_bool("v"))
    return Response.empty(204)


def rename(engine: Engine, request: Request) -> Response:
    engine.containers.rename(request.params["ref"], request.q("name") or "")
    return Response.empty(204)


def wait(engine: Engine, request: Request) -> StreamResponse:
    container = engine.containers.get(request.params["ref"])
    condition = request.q("condition") or "not-running"

    def body() -> Iterator[bytes]:
        # Headers first: docker run blocks on them before it starts the container.
        yield b""
        try:
            result = engine.containers.wait(container, condition, client_gone=request.client_gone)
        except ClientGone:
            return  # an abandoned wait lets go of its thread and fd (issue 7)
        yield json.dumps(result).encode() + b"\n"

    return StreamResponse(body(), json_lines=False)


def resize(engine: Engine, request: Request) -> Response:
    engine.containers.resize(engine.containers.get(request.params["ref"]), request.q_int("h", 0) or 0, request.q_int("w", 0) or 0)
    return Response(200, b"", "text/plain")


def logs(engine: Engine, request: Request) -> StreamResponse:
    container = engine.containers.get(request.params["ref"])
    stdout, stderr = request.q_bool("stdout"), request.q_bool("stderr")
    if not stdout and not stderr:
        raise InvalidArgument("You must choose at least one stream")
    chunks = engine.containers.logs(container, stdout=stdout, stderr=stderr, follow=request.q_bool("follow"),
                            tail=request.q("tail") or "all", since=request.q("since"),
                            until=request.q("until"), timestamps=request.q_bool("timestamps"))
    return StreamResponse(chunks, content_type=stream_content_type(request, container.tty), json_lines=False)


def attach(engine: Engine, request: Request) -> Hijack:
    container = engine.containers.get(request.params["ref"])
    session = engine.containers.attach_session(
        container, stdin=request.q_bool("stdin"), stdout=request.q_bool("stdout"),
        stderr=request.q_bool("stderr"), logs=request.q_bool("logs"), stream=request.q_bool("stream", True),
        detach_keys=request.q("detachKeys"))
    return Hijack(session.serve, stream_content_type(request, container.tty))


def top(engine: Engine, request: Request) -> Response:
    return Response.json(engine.containers.top(engine.containers.get(request.params["ref"]), request.q("ps_args") or ""))


def export(engine: Engine, request: Request) -> StreamResponse:
    return StreamResponse(engine.containers.export(engine.containers.get(request.params["ref"])),
                          content_type="application/x-tar", json_lines=False)


def archive_head(engine: Engine, request: Request) -> Response:
    stat = engine.containers.archive_stat(engine.containers.get(request.params["ref"]), _path(request))
    return Response(200, None, headers={"X-Docker-Container-Path-Stat": _stat_header(stat)})


def archive_get(engine: Engine, request: Request) -> StreamResponse:
    container = engine.containers.get(request.params["ref"])
    stat, chunks = engine.containers.archive_get(container, _path(request))
    return StreamResponse(chunks, content_type="application/x-tar", json_lines=False,
                          headers={"X-Docker-Container-Path-Stat": _stat_header(stat)})


def archive_put(engine: Engine, request: Request) -> Response:
    engine.containers.archive_put(engine.containers.get(request.params["ref"]), _path(request), request.body,
                                 no_overwrite_dir_non_dir=request.q_bool("noOverwriteDirNonDir"),
                                 copy_uid_gid=request.q_bool("copyUIDGID"))
    return Response(200, b"", "text/plain")


# The keys Containers.prune applies (moby's: label, label!, until).
PRUNE_FILTERS = ("label", "label!", "until")


def prune(engine: Engine, request: Request) -> Response:
    filters = parse_query(request.q("filters"))
    f.validate(filters, PRUNE_FILTERS)  # docker refuses an unknown key; before issue 8 prune ignored it
    removed, space = engine.containers.prune(filters)
    return Response.json({"ContainersDeleted": removed or None, "SpaceReclaimed": space})


def pause(engine: Engine, request: Request) -> Response:
    engine.containers.pause(engine.containers.get(request.params["ref"]))
    return Response.empty(204)


def unpause(engine: Engine, request: Request) -> Response:
    engine.containers.unpause(engine.containers.get(request.params["ref"]))
    return Response.empty(204)


def stats(engine: Engine, request: Request) -> Result:
    """stream=1 (the default): a sample a second; stream=0: two samples a second apart, so the CPU %
    has a delta (dockerd's way; one-shot=1 takes one); refusals come before the headers."""
    container = engine.containers.get(request.params["ref"])
    if not request.q_bool("stream", True):
        return Response.json(_stats_once(engine, container, request.q_bool("one-shot")))
    first = engine.containers.stats(container)
    return StreamResponse(_stats_stream(engine, container, first, request.client_gone))


def _stats_once(engine: Engine, container: Container, one_shot: bool) -> Dict[str, Any]:
    try:
        first = engine.containers.stats(container)
    except Conflict:
        if engine.containers.host.cgroup.limits_supported and not container.running:
            # dockerd answers a stopped container's single sample with an empty one, not an error
            return {"name": "/" + container.name, "id": container.id, "read": ZERO_TIME, "preread": ZERO_TIME}
        raise
    if one_shot:
        return first
    time.sleep(STATS_INTERVAL)
    return engine.containers.stats(container, first)


def _stats_stream(engine: Engine, container: Container, first: Dict[str, Any],
                  client_gone: Callable[[], bool]) -> Iterator[bytes]:
    """Samples until the container stops or the client leaves."""
    sample: Optional[Dict[str, Any]] = first
    while sample is not None:
        yield json.dumps(sample).encode() + b"\n"
        deadline = time.monotonic() + STATS_INTERVAL
        while time.monotonic() < deadline:
            if client_gone():
                return
            time.sleep(0.1)
        try:
            sample = engine.containers.stats(container, sample)
        except Conflict:
            sample = None  # it stopped: the stream ends, as docker's does


def update(engine: Engine, request: Request) -> Response:
    container = engine.containers.get(request.params["ref"])
    body = decode_request(types.ContainerUpdate, request.json())
    return Response.json({"Warnings": engine.containers.update(container, body)})


def changes(engine: Engine, request: Request) -> Response:
    return Response.json(engine.containers.changes(engine.containers.get(request.params["ref"])))


ROUTES: List[Route] = [
    ("POST", "/containers/create", create),
    ("GET", "/containers/json", list_),
    ("GET", "/containers/{ref}/json", inspect),
    ("POST", "/containers/{ref}/start", start),
    ("POST", "/containers/{ref}/stop", stop),
    ("POST", "/containers/{ref}/restart", restart),
    ("POST", "/containers/{ref}/kill", kill),
    ("DELETE", "/containers/{ref:path}", remove),  # a link's name has a slash: /containers/parent/alias
    ("POST", "/containers/{ref}/rename", rename),
    ("POST", "/containers/{ref}/wait", wait),
    ("POST", "/containers/{ref}/resize", resize),
    ("GET", "/containers/{ref}/logs", logs),
    ("POST", "/containers/{ref}/attach", attach),
    ("GET", "/containers/{ref}/top", top),
    ("GET", "/containers/{ref}/export", export),
    ("HEAD", "/containers/{ref}/archive", archive_head),
    ("GET", "/containers/{ref}/archive", archive_get),
    ("PUT", "/containers/{ref}/archive", archive_put),
    ("POST", "/containers/prune", prune),
    ("POST", "/containers/{ref}/pause", pause),
    ("POST", "/containers/{ref}/unpause", unpause),
    ("GET", "/containers/{ref}/stats", stats),
    ("POST", "/containers/{ref}/update", update),
    ("GET", "/containers/{ref}/changes", changes),
]


def register(router: Router, engine: Engine) -> None:
    router.bind(engine, ROUTES)


def _path(request: Request) -> str:
    path = request.q("path")
    if not path:
        raise InvalidArgument("path is required")
    return path


def _stat_header(stat: Any) -> str:
    return base64.b64encode(json.dumps(stat).encode()).decode()
