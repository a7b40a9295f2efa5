"""Container routes that refuse bad input before the engine is asked."""
from __future__ import annotations

import json
from typing import Any

import pytest

from rootless.api.http import Request
from rootless.api.routes.containers import prune
from rootless.errors import InvalidArgument


def request(filters: Any) -> Request:
    return Request("POST", "/containers/prune", {"filters": [json.dumps(filters)]}, {}, "1.44")


@pytest.mark.parametrize("filters,message", [
    ({"foo": ["bar"]}, "invalid filter 'foo'"),     # was: ignored, and every stopped container pruned
    ({"status": ["exited"]}, "invalid filter 'status'"),  # a list filter, not one prune applies: refused
])
def test_prune_refuses_filters_it_does_not_apply(filters: Any, message: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        prune(None, request(filters))  # type: ignore[arg-type]  # refused before the engine is used
    assert exc.value.message == message
