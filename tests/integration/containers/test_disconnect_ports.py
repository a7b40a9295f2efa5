"""NetworkSettings.Ports after `docker network disconnect bridge` of a running container that
published a port: as from dockerd, which rebuilds Ports from the endpoints left, inspect, `docker
port` and `docker ps` stop showing the port at once (the forward is gone too), not at the next
restart; a port of a network the container keeps stays."""
from __future__ import annotations

import json
import socket
import uuid
from typing import Any, Dict

from tests.integration.conftest import Engine


def _bindings(engine: Engine, name: str) -> Dict[str, Any]:
    ports = json.loads(engine.docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", name).stdout) or {}
    return {key: value for key, value in ports.items() if value}


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_disconnect_bridge_takes_its_published_ports_out_of_inspect(engine: Engine, busybox: str,
                                                                     cleanup: list) -> None:
    name = f"dp{uuid.uuid4().hex[:6]}"
    engine.docker("run", "-d", "--name", name, "-p", "127.0.0.1::80", busybox, "sleep", "300")
    cleanup.append(("container", name))
    port = int(_bindings(engine, name)["80/tcp"][0]["HostPort"])
    engine.docker("network", "create", name)
    cleanup.append(("network", name))
    engine.docker("network", "connect", name, name)
    assert list(_bindings(engine, name)) == ["80/tcp"]  # another network's leaving keeps them
    engine.docker("network", "disconnect", name, name)
    assert list(_bindings(engine, name)) == ["80/tcp"]
    engine.docker("network", "disconnect", "bridge", name)
    assert _bindings(engine, name) == {}
    assert engine.docker("port", name).stdout.strip() == ""
    assert engine.docker("ps", "--filter", f"name={name}", "--format", "{{.Ports}}").stdout.strip() == ""
    assert _refused(port)  # what inspect says: nothing listens there any more
