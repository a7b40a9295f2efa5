"""/events filtering: moby's events Filter rules on top of wire.filters."""
from __future__ import annotations

from typing import Dict, List

import pytest

from rootless.api.routes.system import _event_matches
from rootless.engine.events import Event

START = Event("container", "start", "abc123", {"name": "web", "image": "busybox", "tier": "front"})
EXEC = Event("container", "exec_start: sh -c true", "abc123", {"name": "web", "image": "busybox"})
VOLUME = Event("volume", "create", "data", {"driver": "local"})


@pytest.mark.parametrize("filters,event,expected", [
    ({}, START, True),
    ({"type": ["container"]}, START, True),
    ({"type": ["contain"]}, START, False),             # type is an exact match
    ({"event": ["start"]}, START, True),
    ({"event": ["sta"]}, START, False),                # so is event ...
    ({"event": ["exec_start"]}, EXEC, True),           # ... except docker's suffixed actions
    ({"container": ["abc"]}, START, True),             # id prefix
    ({"container": ["web"]}, START, True),             # name
    ({"container": ["web"]}, VOLUME, False),
    ({"volume": ["data"]}, VOLUME, True),
    ({"volume": ["data"]}, START, False),
    ({"image": ["busybox"]}, START, True),
    ({"image": ["alpine"]}, START, False),
    ({"label": ["tier=front"]}, START, True),
    ({"label": ["tier"]}, START, True),
    ({"label": ["tier=back"]}, START, False),
    ({"scope": ["local"]}, START, True),
    ({"scope": ["swarm"]}, START, False),
    ({"daemon": ["x"]}, START, False),                 # never emitted here: matches nothing
])
def test_event_filters(filters: Dict[str, List[str]], event: Event, expected: bool) -> None:
    assert _event_matches(event, filters) is expected
