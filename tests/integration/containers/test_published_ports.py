"""Published ports on user networks (issue 10 "Ports", issue 11 "port already in use").

The container runs a tiny echo server that answers each TCP connection and
each UDP datagram with the address it came from. Its Python is the host's,
bind-mounted read-only (busybox has no UDP server), started through the
dynamic loader so the busybox image needs no /lib64.

The source address is checked from a client in a network namespace this
test makes (as root): a veth pair with 10.x addresses, the client connecting
to the host-side address. A client on the host's own loopback may show up as
the gateway: that is allowed, a remote client must not.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import uuid
from typing import Iterator, List, Tuple

import docker
import pytest

from tests.integration.conftest import Engine

LOADER = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
ECHO = """
import socket, sys, threading
port = int(sys.argv[1])
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", port))
    while True:
        data, peer = u.recvfrom(2048)
        u.sendto(peer[0].encode() + b" " + data, peer)
threading.Thread(target=udp, daemon=True).start()
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", port))
t.listen(16)
while True:
    conn, peer = t.accept()
    conn.sendall(peer[0].encode() + b"\\n")
    conn.close()
"""
CLIENT_NS = "rlpc"
HOST_SIDE, CLIENT_SIDE = "10.231.0.1", "10.231.0.2"


def _root(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def client_ns() -> Iterator[str]:
    """A network namespace with a veth to the host: its client has a real, non-local address."""
    with contextlib.suppress(subprocess.CalledProcessError):
        _root("ip", "netns", "del", CLIENT_NS)
    _root("ip", "netns", "add", CLIENT_NS)
    try:
        _root("ip", "link", "add", "rlpc0", "type", "veth", "peer", "name", "eth0", "netns", CLIENT_NS)
        _root("ip", "addr", "add", f"{HOST_SIDE}/24", "dev", "rlpc0")
        _root("ip", "link", "set", "rlpc0", "up")
        for cmd in (["addr", "add", f"{CLIENT_SIDE}/24", "dev", "eth0"], ["link", "set", "eth0", "up"],
                    ["link", "set", "lo", "up"], ["route", "add", "default", "via", HOST_SIDE]):
            _root("ip", "-n", CLIENT_NS, *cmd)
        yield CLIENT_NS
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            _root("ip", "link", "del", "rlpc0")
        _root("ip", "netns", "del", CLIENT_NS)


def _in_client_ns(code: str) -> str:
    """Run a Python snippet in the client namespace; its stdout."""
    done = subprocess.run(["ip", "netns", "exec", CLIENT_NS, "python3", "-c", code], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def tcp_peer_seen(host: str, port: int, netns: bool = False) -> str:
    """What the container says the TCP client's address is (retries while the server starts)."""
    code = f"""
import socket, time
for attempt in range(40):
    try:
        with socket.create_connection(({host!r}, {port}), timeout=5) as s:
            data = s.recv(100).decode().strip()
        if data:
            print(data); break
    except OSError:
        pass
    time.sleep(0.25)
"""
    if netns:
        return _in_client_ns(code)
    done = subprocess.run(["python3", "-c", code], capture_output=True, text=True, timeout=60)
    return done.stdout.strip()


def udp_reply(host: str, port: int, netns: bool = False) -> str:
    """The container's reply to one datagram (a few tries: UDP)."""
    code = f"""
import socket
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(1)
    for attempt in range(20):
        s.sendto(b"ping", ({host!r}, {port}))
        try:
            print(s.recvfrom(2048)[0].decode()); break
        except socket.timeout:
            pass
"""
    if netns:
        return _in_client_ns(code)
    done = subprocess.run(["python3", "-c", code], capture_output=True, text=True, timeout=60)
    return done.stdout.strip()


def echo_args(busybox: str, port: int = 7000) -> List[str]:
    return ["-v", "/usr:/usr:ro", "--entrypoint", LOADER, busybox, "/usr/bin/python3", "-c", ECHO, str(port)]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("", 0))
        port: int = probe.getsockname()[1]
        return port


def test_remote_client_address_is_seen_tcp_and_udp(engine: Engine, busybox: str, client_ns: str,
                                                   net: Tuple[str, List[str]]) -> None:
    network, made = net
    port = free_port()
    made.append("ppsrc")
    engine.docker("run", "-d", "--name", "ppsrc", "--network", network, "-p", f"{port}:7000",
                  "-p", f"{port}:7000/udp", *echo_args(busybox))
    assert tcp_peer_seen(HOST_SIDE, port, netns=True) == CLIENT_SIDE
    assert udp_reply(HOST_SIDE, port, netns=True) == f"{CLIENT_SIDE} ping"
    # the host's own loopback: any answer is fine (the gateway), as long as it works
    assert tcp_peer_seen("127.0.0.1", port)


def test_udp_reply_reaches_a_host_client(engine: Engine, busybox: str, net: Tuple[str, List[str]]) -> None:
    network, made = net
    port = free_port(socket.SOCK_DGRAM)
    made.append("ppudp")
    engine.docker("run", "-d", "--name", "ppudp", "--network", network, "-p", f"127.0.0.1:{port}:7000/udp",
                  *echo_args(busybox))
    assert udp_reply("127.0.0.1", port).endswith(" ping")


def test_ranges_ephemeral_ports_port_and_inspect(engine: Engine, busybox: str,
                                                 net: Tuple[str, List[str]]) -> None:
    network, made = net
    first = free_port()
    while not _free_pair(first):
        first = free_port()
    made.append("pprange")
    engine.docker("run", "-d", "--name", "pprange", "--network", network, "-p", f"{first}-{first + 1}:7000-7001",
                  "-p", "127.0.0.1::7000/udp", *echo_args(busybox))
    ports = json.loads(engine.docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", "pprange").stdout)
    assert ports["7000/tcp"][0]["HostPort"] == str(first)
    assert ports["7001/tcp"][0]["HostPort"] == str(first + 1)
    ephemeral = int(ports["7000/udp"][0]["HostPort"])
    assert ports["7000/udp"][0]["HostIp"] == "127.0.0.1" and ephemeral > 0
    shown = engine.docker("port", "pprange", "7000/udp").stdout.strip()
    assert shown == f"127.0.0.1:{ephemeral}"
    assert f"0.0.0.0:{first + 1}" in engine.docker("port", "pprange", "7001").stdout
    assert tcp_peer_seen("127.0.0.1", first)
    assert udp_reply("127.0.0.1", ephemeral).endswith(" ping")
    # docker-py reads the same table
    attrs = engine.client().containers.get("pprange").attrs
    assert attrs["NetworkSettings"]["Ports"]["7001/tcp"][0]["HostPort"] == str(first + 1)


def _free_pair(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("", port + 1))
        except OSError:
            return False
    return port + 1 < 65536


def test_publish_all_uses_the_image_expose(engine: Engine, busybox: str,
                                           net: Tuple[str, List[str]]) -> None:
    network, made = net
    context = engine.user.home + f"/ctx-{uuid.uuid4().hex[:6]}"
    engine.user.run(["mkdir", "-p", context])
    engine.user.run(["sh", "-c", f"printf 'FROM {busybox}\\nEXPOSE 7000 7000/udp\\n' > {context}/Dockerfile"])
    engine.docker("build", "-q", "-t", "ppexpose:latest", context, timeout=300)
    made.append("ppall")
    args = echo_args("ppexpose:latest")
    engine.docker("run", "-d", "--name", "ppall", "--network", network, "-P", *args)
    ports = json.loads(engine.docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", "ppall").stdout)
    assert set(ports) == {"7000/tcp", "7000/udp"}
    tcp_port = int(ports["7000/tcp"][0]["HostPort"])
    assert tcp_port > 0 and tcp_peer_seen("127.0.0.1", tcp_port)
    engine.docker("rm", "-f", "ppall")
    engine.user.run(["rm", "-rf", context])
    engine.docker("rmi", "ppexpose:latest", check=False)


def test_ports_are_freed_on_stop_and_rm(engine: Engine, busybox: str, net: Tuple[str, List[str]]) -> None:
    network, made = net
    port = free_port()
    made += ["ppfree1", "ppfree2"]
    engine.docker("run", "-d", "--name", "ppfree1", "--network", network, "-p", f"{port}:7000", *echo_args(busybox))
    assert tcp_peer_seen("127.0.0.1", port)
    engine.docker("stop", "-t", "1", "ppfree1")
    engine.docker("run", "-d", "--name", "ppfree2", "--network", network, "-p", f"{port}:7000", *echo_args(busybox))
    assert tcp_peer_seen("127.0.0.1", port)
    engine.docker("rm", "-f", "ppfree2")
    engine.docker("start", "ppfree1")  # the first one gets its port back
    assert tcp_peer_seen("127.0.0.1", port)


@pytest.mark.parametrize("on_user_network", [True, False], ids=["user-network", "default-network"])
def test_taken_port_says_address_in_use_and_leaves_a_created_container(
        engine: Engine, busybox: str, net: Tuple[str, List[str]], on_user_network: bool) -> None:
    network, made = net
    if not on_user_network:
        network = "bridge"
    made += ["pptaken", "pptaken2"]
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        done = engine.docker("run", "-d", "--name", "pptaken", "--network", network, "-p", f"{port}:7000",
                             *echo_args(busybox), check=False)
        assert done.returncode == 125, done.stderr
        assert f"listen tcp4 0.0.0.0:{port}: bind: address already in use" in done.stderr
        # as docker: the container was created, never ran; nothing else is left (no forward, no veth)
        state = json.loads(engine.docker("inspect", "-f", "{{json .State}}", "pptaken").stdout)
        assert state["Status"] == "created" and "address already in use" in state["Error"]
        assert engine.docker("ps", "-a", "--filter", "name=pptaken", "--format", "{{.Status}}").stdout.strip() \
            == "Created"
        with pytest.raises(docker.errors.APIError, match="bind: address already in use"):  # docker-py too
            engine.client().containers.run(busybox, ["sleep", "60"], name="pptaken2", detach=True,
                                           network=network, ports={"7000/tcp": port})
    engine.docker("start", "pptaken")  # the port is free again: the same container starts
    assert tcp_peer_seen("127.0.0.1", port)



def _daemon_pid(engine: Engine) -> int:
    with open(os.path.join(engine.run_dir, "rootlessd.pid")) as f:
        return int(json.load(f)["pid"])


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def test_forwards_outlive_a_killed_daemon_and_the_next_one_frees_them(
        fresh_engine: Engine, images, client_ns: str) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    eng.docker("pull", "-q", images.busybox, timeout=300)
    eng.docker("network", "create", "ppkill")
    port = free_port()
    eng.docker("run", "-d", "--name", "ppkill", "--network", "ppkill", "-p", f"{port}:7000",
               *echo_args(images.busybox))
    assert tcp_peer_seen(HOST_SIDE, port, netns=True) == CLIENT_SIDE
    os.kill(_daemon_pid(eng), signal.SIGKILL)
    # no daemon now: the container and its forwarder still serve, with the client's address
    assert tcp_peer_seen(HOST_SIDE, port, netns=True) == CLIENT_SIDE
    eng.cli("info")  # a new daemon adopts the container and its forwards
    eng.docker("stop", "-t", "1", "ppkill")
    assert _port_is_free(port)
    eng.docker("rm", "ppkill")
    eng.docker("network", "rm", "ppkill")
