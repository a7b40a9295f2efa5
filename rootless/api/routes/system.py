"""/_ping, /version, /info, /events."""
from __future__ import annotations

import itertools
import json
import queue
from typing import Callable, Dict, Iterator, List, Optional

from rootless.api.http import (API_VERSION, MIN_API_VERSION, Request, Response, Route, Router,
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


def ping(engine: Engine, request: Request) -> Response:
    return Response(200, b"OK", "text/plain; charset=utf-8", dict(PING_HEADERS))


def version(engine: Engine, request: Request) -> Response:
    return Response.json(engine.version(API_VERSION, MIN_API_VERSION))


def info(engine: Engine, request: Request) -> Response:
    return Response.json(engine.info(request.api_version))


def events(engine: Engine, request: Request) -> StreamResponse:
    filters = parse_filters(request.q("filters"))
    since, until = request.q("since"), request.q("until")
    since_nano = int(_parse_time(since) * 1e9) if since else None
    until_s = _parse_time(until) if until else None
    past, live = engine.events.subscribe(since_nano)
    return StreamResponse(_event_stream(engine, past, live, filters, until_s, request.client_gone))


def _event_stream(engine: Engine, past: List[Event], live: "queue.Queue[Event]",
                  filters: Dict[str, List[str]], until_s: Optional[float],
                  client_gone: Callable[[], bool]) -> Iterator[bytes]:
    """Replayed events, then live ones, until `until` (or the client leaves)."""
    try:
        yield b""  # headers now: the CLI waits for them before printing anything
        for event in itertools.chain(past, engine.events.follow(live, until_s, client_gone)):
            if until_s is not None and event.time_nano / 1e9 > until_s:
                return
            if _event_matches(event, filters):
                yield json.dumps(event.to_json()).encode() + b"\n"
    finally:
        engine.events.unsubscribe(live)


ROUTES: List[Route] = [
    ("GET", "/_ping", ping),
    ("HEAD", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
    ("GET", "/events", events),
]


def register(router: Router, engine: Engine) -> None:
    router.bind(engine, ROUTES)
