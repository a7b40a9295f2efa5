"""/etc/hosts of a container: the host's address for host.docker.internal and host-gateway."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from rootless.engine import container_spec
from rootless.engine.container_spec import NetworkSetup, hosts_lines
from rootless.errors import FailedPrecondition


def _container(*extra_hosts: str) -> SimpleNamespace:
    return SimpleNamespace(host_config={"ExtraHosts": list(extra_hosts)})


def test_private_network_names_the_hosts_address(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(container_spec, "host_address", lambda: "192.168.5.7")
    lines = hosts_lines(_container("db:10.1.2.3", "gw:host-gateway"), NetworkSetup("private", "slirp4netns"), "box")
    assert lines == ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "10.0.2.100\tbox",
                     "192.168.5.7\thost.containers.internal host.docker.internal", "10.1.2.3\tdb",
                     "192.168.5.7\tgw"]


def test_without_a_host_address_the_names_are_left_out(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(container_spec, "host_address", lambda: None)
    lines = hosts_lines(_container(), NetworkSetup("private", "slirp4netns"), "box")
    assert not any("host.docker.internal" in line for line in lines)
    with pytest.raises(FailedPrecondition, match="host-gateway"):
        hosts_lines(_container("gw:host-gateway"), NetworkSetup("private", "slirp4netns"), "box")


def test_host_network_gateway_is_loopback() -> None:
    lines = hosts_lines(_container("gw:host-gateway"), NetworkSetup("host", "none"), "box")
    assert lines[-2:] == ["127.0.1.1\tbox", "127.0.0.1\tgw"]

