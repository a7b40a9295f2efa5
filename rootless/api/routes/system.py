"""/_ping, /version, /info, /events."""
from __future__ import annotations

import itertools
import json
import queue
from typing import Any, Callable, Dict, Iterator, List, Optional

from rootless.api.http import (API_VERSION, MIN_API_VERSION, Request, Response, Route, Router,
                               StreamResponse)
from rootless.engine import Engine, image_convert
from rootless.engine.events import Event
from rootless.wire import filters as f
from rootless.wire.filters import parse_query
from rootless.wire.times import parse_timestamp_ns

PING_HEADERS = {
    "Builder-Version": "1",
    "Swarm": "inactive",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
}


# moby daemon/events/filter.go and api/server/router/system (acceptedEventFilterTags).
EVENT_FILTERS = ("type", "event", "container", "image", "volume", "network", "label", "daemon", "scope",
                 "plugin", "node", "service", "secret", "config")
# Kinds of event this engine never emits: a filter on them matches nothing.
NEVER_EMITTED = ("daemon", "plugin", "node", "service", "secret", "config")
# Actions docker reports with a suffix ("exec_start: sh -c ..."); their filter matches by prefix.
PREFIXED_ACTIONS = ("health_status", "exec_create", "exec_start")


def _event_matches(event: Event, filters: Dict[str, List[str]]) -> bool:
    """Every filter key holds for the event, as moby's events Filter.Include."""
    if any(filters.get(kind) for kind in NEVER_EMITTED):
        return False
    name = event.attributes.get("name", "")
    by_type = {kind: f.fuzzy_match(filters, kind, event.actor_id) or bool(name and f.fuzzy_match(filters, kind, name))
               if event.type == kind else not filters.get(kind)
               for kind in ("container", "volume", "network")}
    if any(value in PREFIXED_ACTIONS for value in filters.get("event", [])):
        action_ok = f.fuzzy_match(filters, "event", event.action)
    else:
        action_ok = f.exact_match(filters, "event", event.action)
    image_ok = f.fuzzy_match(filters, "image", event.attributes.get("image", "")) or \
        f.fuzzy_match(filters, "image", event.actor_id)
    return (action_ok and f.exact_match(filters, "type", event.type) and all(by_type.values()) and image_ok
            and f.exact_match(filters, "scope", "local") and f.match_kv_list(filters, "label", event.attributes))


def _time_s(value: Optional[str]) -> Optional[float]:
    """since/until in any of docker's forms (unix seconds, RFC 3339, a duration before now)."""
    return parse_timestamp_ns(value) / 1e9 if value else None


def ping(engine: Engine, request: Request) -> Response:
    return Response(200, b"OK", "text/plain; charset=utf-8", dict(PING_HEADERS))


def version(engine: Engine, request: Request) -> Response:
    return Response.json(engine.version(API_VERSION, MIN_API_VERSION))


def info(engine: Engine, request: Request) -> Response:
    body = engine.info(request.api_version)
    _add_placement(body, engine.settings.storage_note, engine.settings.idle_timeout)
    _add_hpc(body, engine.settings, image_convert.not_in_format(engine.images))
    return Response.json(body)


def _add_hpc(body: Dict[str, Any], settings: Any, not_in_format: int) -> None:
    """The site image stores and their refusals, the default user namespace, the image format (issue 15)."""
    ours = body.setdefault("Rootless", {})
    ours["AdditionalImageStores"] = list(settings.additional_image_stores)
    ours["DefaultUserns"] = settings.userns or "default"
    ours["ImageFormat"] = settings.image_format
    ours["ImagesNotInFormat"] = not_in_format
    warnings = [f"WARNING: {w}" for w in settings.site_store_warnings]
    if not_in_format:
        warnings.append(f"WARNING: {not_in_format} image(s) not yet in the configured image_format "
                        f"{settings.image_format!r}: run 'rootless image convert'")
    if warnings:
        body["Warnings"] = [*(body.get("Warnings") or []), *warnings]


def _add_placement(body: Dict[str, Any], note: str, idle_timeout: float) -> None:
    """Where the store went and why (issue 15), and when an idle daemon exits: the daemon's settings."""
    ours = body.setdefault("Rootless", {})
    ours["StoragePlacement"] = note
    ours["IdleTimeout"] = idle_timeout
    if note:
        body["Warnings"] = [*(body.get("Warnings") or []), f"WARNING: storage: {note}"]


def events(engine: Engine, request: Request) -> StreamResponse:
    filters = parse_query(request.q("filters"))
    f.validate(filters, EVENT_FILTERS)
    since = request.q("since")
    since_nano = parse_timestamp_ns(since) if since else None
    until_s = _time_s(request.q("until"))
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
