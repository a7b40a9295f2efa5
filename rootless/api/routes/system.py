"""/_ping, /version, /info, /events."""
from __future__ import annotations

import json
import queue
import time
from typing import Dict, Iterator, List

from rootless.api.http import (API_VERSION, MIN_API_VERSION, Request, Response, Router,
                               StreamResponse)
from rootless.engine import Engine
from rootless.engine.events import Event
from rootless.api.filters import parse_filters

PING_HEADERS = {
    "Builder-Version": "1",
    "Swarm": "inactive",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
}


def _parse_time(value: str) -> float:
    """Docker's since/until: unix seconds (maybe fractional) or an RFC 3339 date."""
    try:
        return float(value)
    except ValueError:
        import datetime
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _event_matches(event: Event, filters: Dict[str, List[str]]) -> bool:
    checks = {
        "type": [event.type],
        "event": [event.action],
        "container": [event.actor_id, event.attributes.get("name", "")] if event.type == "container" else None,
        "image": [event.attributes.get("image", ""), event.actor_id],
        "volume": [event.actor_id] if event.type == "volume" else None,
        "network": [event.actor_id, event.attributes.get("name", "")] if event.type == "network" else None,
    }
    for key, wanted in filters.items():
        if key == "label":
            labels = event.attributes
            if not all(_label_matches(labels, w) for w in wanted):
                return False
            continue
        candidates = checks.get(key)
        if candidates is None or not any(c and (c == w or c.startswith(w)) for w in wanted for c in candidates):
            return False
    return True


def _label_matches(labels: Dict[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in labels and (not sep or labels[key] == value)


def register(router: Router, engine: Engine) -> None:
    @router.get("/_ping")
    @router.head("/_ping")
    def ping(request: Request) -> Response:
        return Response(200, b"OK", "text/plain; charset=utf-8", dict(PING_HEADERS))

    @router.get("/version")
    def version(request: Request) -> Response:
        return Response.json(engine.version(API_VERSION, MIN_API_VERSION))

    @router.get("/info")
    def info(request: Request) -> Response:
        return Response.json(engine.info(request.api_version))

    @router.get("/events")
    def events(request: Request) -> StreamResponse:
        filters = parse_filters(request.q("filters"))
        since = request.q("since")
        until = request.q("until")
        since_nano = int(_parse_time(since) * 1e9) if since else None
        until_s = _parse_time(until) if until else None
        past, q = engine.events.subscribe(since_nano)

        def stream() -> Iterator[bytes]:
            try:
                yield b""
                for event in past:
                    if until_s is not None and event.time_nano / 1e9 > until_s:
                        return
                    if _event_matches(event, filters):
                        yield json.dumps(event.to_json()).encode() + b"\n"
                while until_s is None or time.time() < until_s:
                    timeout = 1.0 if until_s is None else max(0.0, min(1.0, until_s - time.time()))
                    try:
                        event = q.get(timeout=timeout)
                    except queue.Empty:
                        continue
                    if until_s is not None and event.time_nano / 1e9 > until_s:
                        return
                    if _event_matches(event, filters):
                        yield json.dumps(event.to_json()).encode() + b"\n"
            finally:
                engine.events.unsubscribe(q)

        return StreamResponse(stream())
