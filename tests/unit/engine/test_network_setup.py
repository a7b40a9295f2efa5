"""How a container is networked (issue 10): the default bridge in the shared namespace,
its own slirp4netns or pasta on request, and the opt-in to the host's loopback."""
from __future__ import annotations

from typing import Any, Dict, Optional

import pytest

from rootless.engine import container_spec
from rootless.engine.container_model import Container
from rootless.engine.container_spec import NetworkSetup, hosts_lines, resolv_conf
from rootless.errors import InvalidArgument


def _record(host_config: Optional[Dict[str, Any]] = None) -> Container:
    return Container(None, {"Id": "c" * 64, "Config": {}, "HostConfig": host_config or {}})  # type: ignore[arg-type]


def _on(mode: str, **host_config: Any) -> Container:
    return _record({"NetworkMode": mode, **host_config})


def test_the_default_bridge_is_wired_in_the_shared_namespace_with_its_address() -> None:
    container = _on("bridge")
    container.set_attachment("bridge", {"IPAddress": "172.17.0.2", "Gateway": "172.17.0.1", "IPPrefixLen": 16})
    network = container_spec.network_setup(container, "auto")
    assert (network.mode, network.monitor_mode) == ("private", container_spec.USER_NETWORK)
    network = container_spec.user_network_setup(container, network)
    assert (network.address, network.resolver) == ("172.17.0.2", "172.17.0.1")
    assert "172.17.0.2\tbox" in hosts_lines(container, network, "box")
    assert resolv_conf(container, network) == "nameserver 172.17.0.1\n"  # the responder forwards


def test_a_plan_from_the_per_container_slirp4netns_days_is_wired_like_a_new_one() -> None:
    container = _on("bridge")
    old_plan = NetworkSetup("private", "slirp4netns", [{"proto": "tcp", "container_port": 80}])
    network = container_spec.user_network_setup(container, old_plan)
    assert network.monitor_mode == container_spec.USER_NETWORK and network.ports == old_plan.ports
    own = container_spec.user_network_setup(_on("slirp4netns"), NetworkSetup("private", "slirp4netns"))
    assert own.monitor_mode == "slirp4netns"  # asked for: stays its own


def test_slirp4netns_and_pasta_give_a_container_its_own_uplink() -> None:
    slirp = container_spec.network_setup(_on("slirp4netns", PortBindings={"80/tcp": [{"HostPort": "8080"}]}), "auto")
    assert (slirp.monitor_mode, slirp.resolver, slirp.host_loopback) == ("slirp4netns", "10.0.2.3", False)
    assert slirp.ports == [{"proto": "tcp", "container_port": 80, "host_port": 8080, "host_ip": ""}]
    allowed = container_spec.network_setup(_on("slirp4netns:allow_host_loopback=true,port_handler=slirp4netns"),
                                           "auto")
    assert (allowed.host_loopback, allowed.host_gateway) == (True, "10.0.2.2")
    pasta = container_spec.network_setup(_on("pasta"), "auto")
    assert (pasta.monitor_mode, pasta.resolver) == ("pasta", "169.254.1.1")
    assert resolv_conf(_on("pasta"), pasta) == "nameserver 169.254.1.1\n"
    # the per-container backends are asked for by name: the engine's default backend doesn't matter
    assert container_spec.network_setup(_on("pasta"), "none").monitor_mode == "pasta"


@pytest.mark.parametrize("mode, message", [
    ("slirp4netns:mtu=1500", "unknown slirp4netns option 'mtu=1500'"),
    ("slirp4netns:allow_host_loopback", "unknown slirp4netns option"),
    ("slirp4netns:allow_host_loopback=yes", "allow_host_loopback=yes: want true or false"),
    ("slirp4netns:port_handler=rootlesskit", "port_handler rootlesskit: not supported"),
    ("pasta:--runas,0", "pasta option '--runas' is not allowed"),
    ("pasta:--mtu", "pasta option --mtu needs a value"),
])
def test_options_not_applied_are_refused(mode: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        container_spec.network_setup(_on(mode), "auto")


def test_host_gateway_opts_in_to_the_host_loopback(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(container_spec, "host_address", lambda: "192.168.5.7")
    container = _on("bridge", ExtraHosts=["host.docker.internal:host-gateway"])
    assert container_spec.wants_host_loopback(container)
    assert not container_spec.wants_host_loopback(_on("bridge", ExtraHosts=["db:10.1.2.3"]))
    network = NetworkSetup("private", container_spec.USER_NETWORK, address="172.17.0.2", host_gateway="10.0.2.2")
    lines = hosts_lines(container, network, "box")
    # the name asked for is not also on the automatic line: the first line found would win
    assert "192.168.5.7\thost.containers.internal" in lines
    assert lines[-1] == "10.0.2.2\thost.docker.internal"
    # on its own slirp4netns, host-gateway alone lets its gateway reach the loopback
    own = container_spec.network_setup(_on("slirp4netns", ExtraHosts=["h:host-gateway"]), "auto")
    assert (own.host_loopback, own.host_gateway) == (True, "10.0.2.2")
