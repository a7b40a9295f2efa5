"""Published ports over IPv6, as dockerd 28 publishes them (issue 10 "Ports").

`-p PORT:CPORT` (no host address) listens on 0.0.0.0 and [::] with the same
port number, and NetworkSettings.Ports lists both; `-p 127.0.0.1:…` is v4
only and `-p [::1]:…` v6 only. The container keeps its IPv4 address: a v6
client reaches it through the forwarder, and the container sees the
network's gateway as its peer (as behind docker's userland proxy).
The echo server is test_published_ports.py's: it answers with the peer's address.
"""
from __future__ import annotations

import json
import socket
import subprocess
from typing import Any, Dict, List, Tuple

import docker
import pytest

from rootless.runtime.network import port_forwarder
from tests.integration.conftest import Engine
from tests.integration.containers.test_published_ports import echo_args, tcp_peer_seen

pytestmark = pytest.mark.skipif(not port_forwarder.host_has_ipv6(),
                                reason="the host has IPv6 disabled: docker binds no [::] either")


def _bindable(family: int, address: str, port: int, kind: int = socket.SOCK_STREAM) -> bool:
    with socket.socket(family, kind) as probe:
        if family == socket.AF_INET6:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if kind == socket.SOCK_STREAM:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port free for tcp and udp on 0.0.0.0 and [::]."""
    while True:
        with socket.socket() as probe:
            probe.bind(("0.0.0.0", 0))
            port: int = probe.getsockname()[1]
        if all(_bindable(f, a, port, k) for f, a in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::"))
               for k in (socket.SOCK_STREAM, socket.SOCK_DGRAM)):
            return port


def _refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def udp6_reply(port: int) -> str:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        for _ in range(20):
            s.sendto(b"ping", ("::1", port))
            try:
                return s.recvfrom(2048)[0].decode()
            except socket.timeout:
                pass
    return ""


def _ports(engine: Engine, name: str) -> Dict[str, Any]:
    ports: Dict[str, Any] = json.loads(engine.docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", name).stdout)
    return ports


def _gateway(engine: Engine, network: str) -> str:
    return engine.docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", network).stdout.strip()


def test_no_host_address_listens_on_both_families(engine: Engine, busybox: str, net: Tuple[str, List[str]]) -> None:
    network, made = net
    port = free_port()
    made.append("p6both")
    engine.docker("run", "-d", "--name", "p6both", "--network", network, "-p", f"{port}:7000",
                  "-p", f"{port}:7000/udp", "-p", "7000", *echo_args(busybox))
    # a v6 client on the host reaches the (IPv4) container; it sees the gateway, as behind docker's proxy
    assert tcp_peer_seen("::1", port) == _gateway(engine, network)
    curl = subprocess.run(["curl", "-gs", "--http0.9", "--max-time", "10", f"http://[::1]:{port}/"],
                          capture_output=True, text=True, timeout=30)
    assert curl.stdout.strip() == _gateway(engine, network), curl.stderr
    assert tcp_peer_seen("127.0.0.1", port)
    assert udp6_reply(port).endswith(" ping")
    ports = _ports(engine, "p6both")
    both = [{"HostIp": "0.0.0.0", "HostPort": str(port)}, {"HostIp": "::", "HostPort": str(port)}]
    assert ports["7000/udp"] == both
    # two bindings of 7000/tcp: the fixed one, and an ephemeral one with one number in both families
    fixed, ephemeral = ports["7000/tcp"][:2], ports["7000/tcp"][2:]
    assert fixed == both
    assert [b["HostIp"] for b in ephemeral] == ["0.0.0.0", "::"]
    assert ephemeral[0]["HostPort"] == ephemeral[1]["HostPort"] != str(port)
    assert tcp_peer_seen("::1", int(ephemeral[0]["HostPort"]))
    shown = engine.docker("port", "p6both", "7000/udp").stdout.split()
    assert shown == [f"0.0.0.0:{port}", f"[::]:{port}"]
    assert f"7000/udp -> [::]:{port}" in engine.docker("port", "p6both").stdout
    listed = engine.docker("ps", "--filter", "name=p6both", "--format", "{{.Ports}}").stdout
    assert f"0.0.0.0:{port}->7000/udp" in listed and f"[::]:{port}->7000/udp" in listed, listed
    attrs = engine.client().containers.get("p6both").attrs  # docker-py reads the same table
    assert attrs["NetworkSettings"]["Ports"]["7000/udp"] == both


def test_an_explicit_address_binds_its_family_only(engine: Engine, busybox: str,
                                                   net: Tuple[str, List[str]]) -> None:
    network, made = net
    v4, v6 = free_port(), free_port()
    made.append("p6one")
    engine.docker("run", "-d", "--name", "p6one", "--network", network, "-p", f"127.0.0.1:{v4}:7000",
                  "-p", f"[::1]:{v6}:7000", *echo_args(busybox))
    assert tcp_peer_seen("127.0.0.1", v4) and tcp_peer_seen("::1", v6)
    assert _refused("::1", v4) and _refused("127.0.0.1", v6)
    assert _ports(engine, "p6one")["7000/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(v4)},
                                                   {"HostIp": "::1", "HostPort": str(v6)}]
    assert engine.docker("port", "p6one", "7000").stdout.split() == [f"127.0.0.1:{v4}", f"[::1]:{v6}"]


def test_taken_v6_port_says_address_in_use_and_holds_nothing(engine: Engine, busybox: str,
                                                            net: Tuple[str, List[str]]) -> None:
    network, made = net
    made += ["p6taken", "p6taken2"]
    with socket.socket(socket.AF_INET6) as holder:  # [::] only: the v4 port is free
        holder.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        holder.bind(("::", free_port()))
        holder.listen(1)
        port = holder.getsockname()[1]
        done = engine.docker("run", "-d", "--name", "p6taken", "--network", network, "-p", f"{port}:7000",
                             *echo_args(busybox), check=False)
        assert done.returncode == 125, done.stderr
        assert f"listen tcp6 [::]:{port}: bind: address already in use" in done.stderr
        assert _bindable(socket.AF_INET, "0.0.0.0", port)  # the v4 socket bound first was let go
        with pytest.raises(docker.errors.APIError, match=r"listen tcp6 \[::\]:\d+: bind: address already in use"):
            engine.client().containers.run(busybox, ["sleep", "60"], name="p6taken2", detach=True,
                                           network=network, ports={"7000/tcp": port})
    engine.docker("start", "p6taken")  # free again: the same container starts, on both families
    assert tcp_peer_seen("::1", port) == _gateway(engine, network)


def test_both_families_are_freed_on_stop(engine: Engine, busybox: str, net: Tuple[str, List[str]]) -> None:
    network, made = net
    port = free_port()
    made.append("p6free")
    engine.docker("run", "-d", "--name", "p6free", "--network", network, "-p", f"{port}:7000",
                  "-p", f"{port}:7000/udp", *echo_args(busybox))
    assert tcp_peer_seen("::1", port)
    assert not _bindable(socket.AF_INET6, "::", port) and not _bindable(socket.AF_INET, "0.0.0.0", port)
    engine.docker("stop", "-t", "1", "p6free")
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        assert _bindable(socket.AF_INET6, "::", port, kind) and _bindable(socket.AF_INET, "0.0.0.0", port, kind)
