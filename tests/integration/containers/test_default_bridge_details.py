"""The default bridge's endpoints as dockerd 28 keeps them (issues 10, 16), through the docker CLI
and docker-py: `network inspect` lists running containers only, `network disconnect bridge`
takes a running container's veth at once (and `connect bridge` gives it back), an address or an
alias on connect to bridge is refused in dockerd's words, and IPv6 addresses of a user network
are released at stop unless given with --ip6."""
from __future__ import annotations

import json
from typing import List

import pytest

from tests.integration.conftest import Engine


def _inspect(engine: Engine, name: str, template: str) -> str:
    return engine.docker("inspect", "-f", template, name).stdout.strip()


def _listed(engine: Engine, network: str) -> List[str]:
    containers = json.loads(engine.docker("network", "inspect", "-f", "{{json .Containers}}", network).stdout)
    return sorted(v["Name"] for v in (containers or {}).values())


def _interfaces(engine: Engine, name: str) -> str:
    return engine.docker("exec", name, "cat", "/proc/net/dev").stdout


def test_network_inspect_lists_running_containers_only(engine: Engine, busybox: str, cleanup: list) -> None:
    engine.docker("run", "-d", "--name", "bdlive", busybox, "sleep", "300")
    cleanup.append(("container", "bdlive"))
    engine.docker("create", "--name", "bdidle", busybox, "true")
    cleanup.append(("container", "bdidle"))
    listed = _listed(engine, "bridge")
    assert "bdlive" in listed and "bdidle" not in listed
    engine.docker("stop", "-t", "0", "bdlive")
    assert "bdlive" not in _listed(engine, "bridge")
    assert "bridge" in engine.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    client = engine.client()
    assert all(c["Name"] not in ("bdlive", "bdidle")
               for c in (client.networks.get("bridge").attrs["Containers"] or {}).values())


def test_disconnect_and_connect_bridge(engine: Engine, busybox: str, cleanup: list) -> None:
    engine.docker("run", "-d", "--name", "bddis", busybox, "sleep", "300")
    cleanup.append(("container", "bddis"))
    assert "eth0:" in _interfaces(engine, "bddis")
    engine.docker("network", "disconnect", "bridge", "bddis")
    assert "eth0:" not in _interfaces(engine, "bddis")  # at once, as from dockerd
    assert "bddis" not in _listed(engine, "bridge")
    assert _inspect(engine, "bddis", "{{json .NetworkSettings.Networks}}") == "{}"
    engine.docker("network", "connect", "bridge", "bddis")
    assert "eth0:" in _interfaces(engine, "bddis")
    assert _inspect(engine, "bddis", "{{.NetworkSettings.Networks.bridge.IPAddress}}").startswith("172.")
    # a stopped one just loses the endpoint; it starts without a network then, as from dockerd
    engine.docker("stop", "-t", "0", "bddis")
    engine.docker("network", "disconnect", "bridge", "bddis")
    engine.docker("start", "bddis")
    assert "eth0:" not in _interfaces(engine, "bddis")
    client = engine.client()
    client.networks.get("bridge").connect("bddis")  # docker-py: back on it
    assert "eth0:" in _interfaces(engine, "bddis")


def test_an_address_or_alias_on_connect_to_bridge_is_refused(engine: Engine, busybox: str, cleanup: list) -> None:
    engine.docker("run", "-d", "--name", "bdip", busybox, "sleep", "300")
    cleanup.append(("container", "bdip"))
    engine.docker("network", "disconnect", "bridge", "bdip")
    refused = engine.docker("network", "connect", "--ip", "172.17.0.99", "bridge", "bdip", check=False)
    assert refused.returncode != 0
    assert "user specified IP address is supported on user defined networks only" in refused.stderr
    refused = engine.docker("network", "connect", "--alias", "db", "bridge", "bdip", check=False)
    assert refused.returncode != 0
    assert "network-scoped alias is supported only for containers in user defined networks" in refused.stderr


def test_ipv6_addresses_are_released_at_stop_unless_given(engine: Engine, busybox: str, cleanup: list) -> None:
    engine.docker("network", "create", "--ipv6", "--subnet", "10.96.0.0/24", "--subnet", "fd96::/64", "bdsix")
    cleanup.append(("network", "bdsix"))
    engine.docker("run", "-d", "--name", "bdfree", "--network", "bdsix", busybox, "sleep", "300")
    cleanup.append(("container", "bdfree"))
    engine.docker("run", "-d", "--name", "bdfixed", "--network", "bdsix", "--ip6", "fd96::99", busybox, "sleep", "300")
    cleanup.append(("container", "bdfixed"))
    template = "{{.NetworkSettings.Networks.bdsix.GlobalIPv6Address}}"
    assert _inspect(engine, "bdfree", template) == "fd96::2"
    engine.docker("stop", "-t", "0", "bdfree", "bdfixed")
    engine.docker("run", "-d", "--name", "bdnext", "--network", "bdsix", busybox, "sleep", "300")
    cleanup.append(("container", "bdnext"))
    assert _inspect(engine, "bdnext", template) == "fd96::2"  # the released one
    engine.docker("start", "bdfixed")
    assert _inspect(engine, "bdfixed", template) == "fd96::99"  # --ip6: kept
