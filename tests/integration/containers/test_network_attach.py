"""docker network connect / disconnect are recorded in the container at once (inspect,
ps --filter network=), and the engine announces the volumes and networks it makes or
removes on its own (issue 8)."""
from __future__ import annotations

import json
import time

from tests.integration.conftest import Engine


def _networks(engine: Engine, name: str) -> dict:
    out = engine.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", name).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def _events(engine: Engine, since: str, *filters: str) -> list:
    until = str(int(time.time()) + 1)
    out = engine.docker("events", "--since", since, "--until", until, "--format", "{{json .}}", *filters).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_connect_and_disconnect_show_in_inspect_at_once(engine: Engine, busybox: str) -> None:
    engine.docker("network", "create", "attach-net")
    engine.docker("run", "-d", "--name", "attach-run", busybox, "sleep", "300")
    engine.docker("create", "--name", "attach-created", busybox, "true")
    try:
        for name in ("attach-run", "attach-created"):
            assert list(_networks(engine, name)) == ["bridge"]
            engine.docker("network", "connect", "--alias", "db", "attach-net", name)
            networks = _networks(engine, name)
            assert sorted(networks) == ["attach-net", "bridge"], networks
            assert "db" in networks["attach-net"]["Aliases"]
            assert networks["attach-net"]["NetworkID"] == engine.docker(
                "network", "inspect", "-f", "{{.Id}}", "attach-net").stdout.strip()
        on_net = engine.docker("ps", "-a", "--filter", "network=attach-net", "--format", "{{.Names}}").stdout.split()
        assert sorted(on_net) == ["attach-created", "attach-run"]
        again = engine.docker("network", "connect", "attach-net", "attach-run", check=False)
        assert again.returncode != 0 and "already exists" in again.stderr
        twice = engine.docker("network", "connect", "bridge", "attach-run", check=False)  # created on it
        assert twice.returncode != 0 and "already exists in network bridge" in twice.stderr
        engine.docker("network", "disconnect", "bridge", "attach-run")  # dockerd lets it leave the default bridge
        assert list(_networks(engine, "attach-run")) == ["attach-net"]
        engine.docker("network", "connect", "bridge", "attach-run")
        engine.docker("network", "disconnect", "attach-net", "attach-run")
        assert list(_networks(engine, "attach-run")) == ["bridge"]
        engine.docker("restart", "-t", "1", "attach-run")  # the record survives a restart
        assert list(_networks(engine, "attach-run")) == ["bridge"]
        assert sorted(_networks(engine, "attach-created")) == ["attach-net", "bridge"]
    finally:
        engine.docker("rm", "-f", "attach-run", "attach-created")
    engine.docker("network", "rm", "attach-net")  # nothing left on it


def test_the_engines_own_volumes_and_prunes_are_announced(engine: Engine, busybox: str) -> None:
    since = str(int(time.time()) - 1)
    engine.docker("run", "--name", "announce", "-v", "/data", busybox, "true")
    volume = json.loads(engine.docker("inspect", "-f", "{{json .Mounts}}", "announce").stdout)[0]["Name"]
    engine.docker("network", "create", "announce-net")
    engine.docker("rm", "announce")
    engine.docker("volume", "prune", "-f")
    engine.docker("network", "prune", "-f")
    volume_events = [(e["Action"], e["Actor"]["ID"]) for e in _events(engine, since, "--filter", "type=volume")]
    assert ("create", volume) in volume_events and ("destroy", volume) in volume_events
    network_events = [(e["Action"], e["Actor"]["Attributes"]["name"])
                      for e in _events(engine, since, "--filter", "type=network")]
    assert ("destroy", "announce-net") in network_events
