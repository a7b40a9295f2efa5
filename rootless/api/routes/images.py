"""/images/...: pull, list, inspect, tag, remove, push, history, prune; /auth."""
from __future__ import annotations

import json
import select
import socket
import threading
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional

from rootless.api import types
from rootless.api.decode import decode_body
from rootless.wire.filters import parse_query
from rootless.api.http import Request, Response, Route, Router, StreamResponse
from rootless.api.registry_auth import request_credentials
from rootless.engine import Engine, image_convert
from rootless.engine.image_pull import PullJob
from rootless.errors import InvalidArgument
from rootless.util.fs import dir_size

# How often a pull's connection is checked for a client that hung up.
_HANGUP_POLL_SECONDS = 0.25


def json_lines(events: Iterable[Dict[str, Any]]) -> Iterator[bytes]:
    for event in events:
        yield json.dumps(event).encode() + b"\n"


def _volume_usage(engine: Engine, body: Dict[str, Any], name: str) -> Dict[str, Any]:
    # Measured as dockerd measures local volumes for /system/df (the bytes of the files in it,
    # a 10-byte file is 10 bytes): the walk is confined, a container's symlinks are not followed.
    size = dir_size(body["Mountpoint"]) if body.get("Mountpoint") else -1
    body["UsageData"] = {"Size": size, "RefCount": len(engine.volume_users(name))}
    return body


def create(engine: Engine, request: Request) -> StreamResponse:
    from_image = request.q("fromImage")
    if not from_image:
        return _import(engine, request)
    job = engine.images.pull(from_image, request.q("tag"), request.q("platform"), request_credentials(request))
    return StreamResponse(_pull_stream(job, request.connection))


def _pull_stream(job: PullJob, connection: Optional[socket.socket]) -> Iterator[bytes]:
    """job's progress as JSON lines; the pull is abandoned when its client goes away.

    A client that hangs up is noticed by a failed write (http.py then closes this
    generator) or, while the pull has nothing to say (a stalled layer, an unpack),
    by a watcher polling the socket. Either way job.abandon() runs before the
    pull's own generator is closed, so its tasks know they were abandoned, not failed.
    """
    watcher = HangupWatcher(connection, job.abandon) if connection is not None else None
    events = job.events()
    try:
        for event in events:
            yield json.dumps(event).encode() + b"\n"
    except GeneratorExit:
        job.abandon()
        raise
    finally:
        if watcher is not None:
            watcher.stop()
        events.close()


class HangupWatcher:
    """Calls on_hangup once the peer of a UNIX stream socket has closed it (POLLHUP).

    POLLHUP, not POLLRDHUP: a client that only shut down its sending side still reads.
    """

    def __init__(self, connection: socket.socket, on_hangup: Callable[[], None]) -> None:
        self._connection, self._on_hangup = connection, on_hangup
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pull-hangup", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        poller = select.poll()
        try:
            poller.register(self._connection.fileno(), select.POLLHUP | select.POLLERR)
        except (OSError, ValueError):  # already closed
            return
        while not self._stopped.is_set():
            events = poller.poll(_HANGUP_POLL_SECONDS * 1000)
            if any(mask & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, mask in events):
                if not self._stopped.is_set():
                    self._on_hangup()
                return


def _import(engine: Engine, request: Request) -> StreamResponse:
    if request.q("fromSrc") != "-":
        raise InvalidArgument("import: only fromSrc=- (the request body) is supported",
                              hint="download the tarball first and import it from a file")
    body = engine.images.import_image(request.body, request.q("repo"), request.q("tag"), request.q("message") or "",
                               request.q_all("changes"))
    return StreamResponse(json_lines([body]))


def list_(engine: Engine, request: Request) -> Response:
    filters = parse_query(request.q("filters"))
    if request.q("filter"):  # API < 1.41: ?filter=<reference>
        filters.setdefault("reference", []).append(request.q("filter") or "")
    return Response.json(engine.images.list(filters, request.q_bool("digests"), request.api_version))


def prune(engine: Engine, request: Request) -> Response:
    filters = parse_query(request.q("filters"))
    result = engine.images.prune(filters)
    if not filters.get("label") and not filters.get("label!") and not filters.get("until"):
        # a plain image prune also empties the build cache (its layers are images' garbage too, issue 9)
        result["SpaceReclaimed"] += engine.builds.prune()["SpaceReclaimed"]
    return Response.json(result)


def save_many(engine: Engine, request: Request) -> StreamResponse:
    names = [n for value in request.q_all("names") for n in value.split(",") if n]
    return StreamResponse(engine.images.save(names), content_type="application/x-tar", json_lines=False)


def load(engine: Engine, request: Request) -> StreamResponse:
    return StreamResponse(json_lines(engine.images.load(request.body, request.q_bool("quiet"))))


def inspect(engine: Engine, request: Request) -> Response:
    return Response.json(engine.images.inspect(request.params["name"], request.api_version))


def history(engine: Engine, request: Request) -> Response:
    return Response.json(engine.images.history(request.params["name"]))


def save_one(engine: Engine, request: Request) -> StreamResponse:
    return StreamResponse(engine.images.save([request.params["name"]]), content_type="application/x-tar",
                          json_lines=False)


def export_squashfs(engine: Engine, request: Request) -> StreamResponse:
    """A rootless extension (issue 15): the image as one squashfs file."""
    return StreamResponse(engine.images.export_squashfs(request.params["name"]),
                          content_type="application/octet-stream", json_lines=False)


def convert(engine: Engine, request: Request) -> StreamResponse:
    """A rootless extension (issue 15): the user's images into the configured image_format."""
    return StreamResponse(json_lines(image_convert.convert_all(engine.images)))


def tag(engine: Engine, request: Request) -> Response:
    repo = request.q("repo")
    if not repo:
        raise InvalidArgument("tag: repo is required")
    engine.images.tag(request.params["name"], repo, request.q("tag"))
    return Response.empty(201)


def push(engine: Engine, request: Request) -> StreamResponse:
    job = engine.images.push(request.params["name"], request.q("tag"), request_credentials(request))
    return StreamResponse(json_lines(job.events()))


def remove(engine: Engine, request: Request) -> Response:
    return Response.json(engine.images.remove(request.params["name"], request.q_bool("force"),
                                       not request.q_bool("noprune")))


def disk_usage(engine: Engine, request: Request) -> Response:
    body = engine.images.disk_usage(request.api_version)
    wanted = set(request.q_all("type")) or {"image", "container", "volume", "build-cache"}
    if "image" not in wanted:
        body = {"LayersSize": body["LayersSize"], "Images": []}
    body["Containers"] = ([engine.containers.summary(c, True) for c in engine.containers.all()]
                          if "container" in wanted else [])
    body["Volumes"] = [_volume_usage(engine, v.to_json(), v.name) for v in engine.volumes.all()] \
        if "volume" in wanted else []
    body["BuildCache"] = engine.builds.disk_usage() if "build-cache" in wanted else []
    return Response.json(body)


def auth(engine: Engine, request: Request) -> Response:
    config = decode_body(types.AuthConfig, request.json())
    # ?store=1 is a rootless extension: its CLI lets the daemon keep the credentials.
    return Response.json(engine.images.login(config.username, config.password, config.serveraddress or None,
                                             request.q_bool("store")))


def logout(engine: Engine, request: Request) -> Response:
    # A rootless extension: docker's CLI logs out client-side.
    return Response.json(engine.images.logout(request.q("serveraddress")))


ROUTES: List[Route] = [
    ("POST", "/images/create", create),
    ("GET", "/images/json", list_),
    ("POST", "/images/prune", prune),
    ("GET", "/images/get", save_many),
    ("POST", "/images/load", load),
    ("POST", "/images/convert", convert),
    ("GET", "/images/{name:path}/json", inspect),
    ("GET", "/images/{name:path}/history", history),
    ("GET", "/images/{name:path}/get", save_one),
    ("GET", "/images/{name:path}/squashfs", export_squashfs),
    ("POST", "/images/{name:path}/tag", tag),
    ("POST", "/images/{name:path}/push", push),
    ("DELETE", "/images/{name:path}", remove),
    ("GET", "/system/df", disk_usage),
    ("POST", "/auth", auth),
    ("POST", "/auth/logout", logout),
]


def register(router: Router, engine: Engine) -> None:
    router.bind(engine, ROUTES)
