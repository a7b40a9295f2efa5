"""Container routes that refuse bad input before the engine is asked."""
from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, Dict, List

import pytest

from rootless.api.http import Request, Response, StreamResponse
from rootless.api.routes import containers as containers_route
from rootless.api.routes.containers import prune
from rootless.errors import Conflict, InvalidArgument


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


class StatsEngine:
    """engine.containers for the stats route: samples numbered by call, Conflict after `alive` samples."""

    def __init__(self, alive: int = 100) -> None:
        self.containers = self
        self.host = SimpleNamespace(cgroup=SimpleNamespace(limits_supported=True))
        self.previous: List[Any] = []
        self.alive = alive

    def get(self, ref: str) -> Any:
        return SimpleNamespace(id="c" * 64, name=ref, running=True)

    def stats(self, container: Any, previous: Any = None) -> Dict[str, Any]:
        if len(self.previous) >= self.alive:
            raise Conflict(f"container {container.id} is not running")
        self.previous.append(previous)
        return {"n": len(self.previous), "precpu_stats": (previous or {}).get("n")}


def stats_request(**query: str) -> Request:
    request = Request("GET", "/containers/web/stats", {k.replace("_", "-"): [v] for k, v in query.items()}, {},
                      "1.44")
    request.params = {"ref": "web"}
    return request


def test_stats_without_stream_takes_two_samples_a_second_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containers_route, "STATS_INTERVAL", 0.0)
    engine = StatsEngine()
    answer = containers_route.stats(engine, stats_request(stream="0"))  # type: ignore[arg-type]
    assert isinstance(answer, Response) and json.loads(answer.body or b"") == {"n": 2, "precpu_stats": 1}
    one = containers_route.stats(StatsEngine(), stats_request(stream="0", one_shot="1"))  # type: ignore[arg-type]
    assert isinstance(one, Response) and json.loads(one.body or b"") == {"n": 1, "precpu_stats": None}


def test_stats_stream_chains_precpu_and_ends_when_the_container_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containers_route, "STATS_INTERVAL", 0.0)
    answer = containers_route.stats(StatsEngine(alive=3), stats_request())  # type: ignore[arg-type]
    assert isinstance(answer, StreamResponse)
    samples = [json.loads(chunk) for chunk in answer.chunks]
    assert samples == [{"n": 1, "precpu_stats": None}, {"n": 2, "precpu_stats": 1}, {"n": 3, "precpu_stats": 2}]
    with pytest.raises(Conflict):  # a stopped container: refused before any header goes out
        containers_route.stats(StatsEngine(alive=0), stats_request())  # type: ignore[arg-type]


def test_default_userns_fills_only_an_unset_userns_and_is_recorded_as_sent() -> None:
    from rootless.api import types
    from rootless.api.support import decode_request
    from rootless.engine.container_model import host_config_record

    bare = decode_request(types.ContainerCreate, {"Image": "busybox"})
    keep = containers_route.with_default_userns(bare, "keep-id")
    assert keep.HostConfig is not None and host_config_record(keep.HostConfig)["UsernsMode"] == "keep-id"
    asked = decode_request(types.ContainerCreate, {"Image": "busybox", "HostConfig": {"UsernsMode": "keep-id:uid=0"}})
    assert containers_route.with_default_userns(asked, "keep-id").HostConfig.UsernsMode == "keep-id:uid=0"  # type: ignore[union-attr]
    assert containers_route.with_default_userns(bare, "") is bare
