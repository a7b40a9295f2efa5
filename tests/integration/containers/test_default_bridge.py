"""The default `bridge` network is real (issue 10): `docker run` without --network gets its
own address on a bridge of the engine's shared namespace, reaches the other bridge
containers by address (not by name, as on docker's default bridge), goes out through the
shared uplink, and reaches the host's loopback only when it opts in with
--add-host x:host-gateway. `--network slirp4netns` / `pasta` keep a per-container uplink.

No packet leaves the machine: the "outside" server listens on a dummy interface of the
host (TEST-NET-2, RFC 5737, on a veth) that the test adds, and the loopback one on 127.0.0.1, both
run by the test user.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import Iterator

import pytest

from tests.integration.conftest import Engine, TestUser, host_link, user_server

OUTSIDE = "198.51.100.77"  # TEST-NET-2 on a link of the host (a veth: no dummy module everywhere)
DUMMY = "rlbtest0"
SERVE = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"
# one HTTP/1.0 request with busybox nc (its wget crashes in these containers, see test_user_networks_engine);
# its -w bounds only the connect, and pasta (2023) once lost the server's FIN: nc then waits for ever
GET = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout {timeout} nc -w {timeout} {host} {port}"
# a host server: answers every connection with its own name, as the test user
ANSWER = ("import socket,sys\n"
          "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "s.bind((sys.argv[1], 0)); s.listen(16); print(s.getsockname()[1], flush=True)\n"
          "while True:\n"
          "    c, _ = s.accept(); c.sendall(b'HTTP/1.0 200 OK\\r\\n\\r\\nhost-' + sys.argv[2].encode() + b'\\n'); c.close()\n")


def _sh(engine: Engine, image: str, script: str, *options: str, check: bool = False
        ) -> "subprocess.CompletedProcess[str]":
    return engine.docker("run", "--rm", *options, image, "sh", "-c", script, check=check, timeout=120)


def _get(engine: Engine, image: str, host: str, port: int, *options: str, timeout: int = 5) -> str:
    """The body of GET http://host:port/ from a throw-away container ("" when it failed): its first
    line, all the servers here send. Debian 12's pasta (passt 2023-03-09) has twice delivered a
    whole answer many times over in one connection under load (full-suite runs)."""
    done = _sh(engine, image, GET.format(timeout=timeout, host=host, port=port), *options)
    text = done.stdout.replace("\r\n", "\n")
    body = text.split("\n\n", 1)[-1] if " 200 " in text.split("\n", 1)[0] else ""
    return body.split("\n", 1)[0] + "\n" if body else ""


def _get_until(engine: Engine, image: str, host: str, port: int, *options: str, tries: int = 10) -> str:
    for _ in range(tries):
        body = _get(engine, image, host, port, *options)
        if body:
            return body
        time.sleep(0.5)
    raise AssertionError(f"GET {host}:{port} {options}: failed {tries} times")


def _inspect(engine: Engine, name: str, template: str) -> str:
    return engine.docker("inspect", "-f", template, name).stdout.strip()


def _fetch_published(engine: Engine, name: str) -> str:
    """GET / through the container's published port 80 from the host, as the test user (a few tries)."""
    port = engine.docker("port", name, "80/tcp").stdout.strip().rsplit(":", 1)[1]
    fetch = ["python3", "-c", f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{port}/', "
             "timeout=3).read().decode())"]
    for _ in range(20):
        done = engine.user.run(fetch, check=False)
        if done.returncode == 0:
            return done.stdout
        time.sleep(0.5)
    raise AssertionError(f"GET through {name}'s published port {port}: {done}")


@pytest.fixture(scope="module")
def outside(user: TestUser) -> Iterator[int]:
    """A server "outside" (on a dummy link of the host, not loopback): its port."""
    with host_link(DUMMY, OUTSIDE), user_server(user, ANSWER, OUTSIDE, "outside") as port:
        yield port


@pytest.fixture()
def loopback(user: TestUser) -> Iterator[int]:
    """A server on the host's 127.0.0.1 only, run by the test user: its port."""
    with user_server(user, ANSWER, "127.0.0.1", "loopback") as port:
        yield port


def test_bridge_containers_have_addresses_and_reach_each_other_only_by_address(
        engine: Engine, busybox: str, cleanup: list) -> None:
    for name in ("dba", "dbb"):
        engine.docker("run", "-d", "--name", name, busybox, "sh", "-c", SERVE)
        cleanup.append(("container", name))
    subnet = json.loads(engine.docker("network", "inspect", "-f", "{{json .IPAM.Config}}", "bridge").stdout)[0]
    a, b = (_inspect(engine, n, "{{.NetworkSettings.IPAddress}}") for n in ("dba", "dbb"))
    assert a != b and a != "10.0.2.100"
    gateway = _inspect(engine, "dba", "{{.NetworkSettings.Gateway}}")
    assert gateway == subnet["Gateway"] and a.split(".")[:2] == subnet["Subnet"].split(".")[:2]
    assert _inspect(engine, "dba", "{{.NetworkSettings.Networks.bridge.IPAddress}}") == a
    assert f"inet {a}/" in engine.docker("exec", "dba", "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
    # by address, both ways: ping and TCP
    assert engine.docker("exec", "dba", "ping", "-c", "1", "-W", "5", b, check=False).returncode == 0
    for _ in range(10):
        done = engine.docker("exec", "dbb", "sh", "-c", GET.format(timeout=5, host=a, port=80), check=False)
        if "hello-from-" in done.stdout:
            break
        time.sleep(0.5)
    assert "hello-from-" in done.stdout, done
    # docker's default bridge has no name resolution between containers
    by_name = engine.docker("exec", "dbb", "sh", "-c", GET.format(timeout=2, host="dba", port=80), check=False)
    assert by_name.returncode != 0 and "hello-from-" not in by_name.stdout
    assert engine.docker("exec", "dbb", "nslookup", "dba", check=False).returncode != 0
    # the network lists both, with those addresses
    listed = json.loads(engine.docker("network", "inspect", "-f", "{{json .Containers}}", "bridge").stdout)
    assert {v["Name"]: v["IPv4Address"].split("/")[0] for v in listed.values() if v["Name"] in ("dba", "dbb")} \
        == {"dba": a, "dbb": b}


def test_outbound_through_the_shared_uplink_and_each_own_backend(
        engine: Engine, busybox: str, outside: int) -> None:
    assert _get_until(engine, busybox, OUTSIDE, outside) == "host-outside\n"  # the default bridge
    for backend in ("slirp4netns", "pasta"):
        assert _get_until(engine, busybox, OUTSIDE, outside, "--network", backend) == "host-outside\n", backend
    own = _sh(engine, busybox, "ip -4 -o addr show dev tap0; cat /etc/resolv.conf", "--network", "slirp4netns",
              check=True).stdout
    assert "10.0.2.100/24" in own and "nameserver 10.0.2.3" in own  # its own slirp4netns
    refused = engine.docker("run", "--rm", "--network", "pasta:--pid,/tmp/x", busybox, "true", check=False)
    assert refused.returncode != 0 and "pasta option '--pid' is not allowed" in refused.stderr


def test_resolv_conf_forwards_to_the_hosts_resolvers(engine: Engine, busybox: str) -> None:
    gateway = json.loads(engine.docker("network", "inspect", "-f", "{{json .IPAM.Config}}", "bridge").stdout)[0]
    assert _sh(engine, busybox, "cat /etc/resolv.conf", check=True).stdout == f"nameserver {gateway['Gateway']}\n"


def test_the_hosts_loopback_is_reachable_only_with_host_gateway(
        engine: Engine, busybox: str, loopback: int, cleanup: list) -> None:
    assert _get(engine, busybox, "10.0.2.2", loopback, timeout=2) == ""
    assert _get(engine, busybox, "host.docker.internal", loopback, timeout=2) == ""  # the host's own address
    for name in ("host.docker.internal", "host.containers.internal"):
        opt_in = ("--add-host", f"{name}:host-gateway")
        assert _get_until(engine, busybox, name, loopback, *opt_in) == "host-loopback\n", name
    engine.docker("network", "create", "dbloop")
    cleanup.append(("network", "dbloop"))
    on_user = ("--network", "dbloop", "--add-host", "host.docker.internal:host-gateway")
    assert _get_until(engine, busybox, "host.docker.internal", loopback, *on_user) == "host-loopback\n"
    assert _get(engine, busybox, "10.0.2.2", loopback, "--network", "dbloop", timeout=2) == ""
    # a container that opted in and stopped leaves no way in for the next one on its address
    assert _get(engine, busybox, "10.0.2.2", loopback, timeout=2) == ""


def test_a_stopped_container_releases_its_address_a_given_one_stays(
        engine: Engine, busybox: str, cleanup: list) -> None:
    engine.docker("run", "-d", "--name", "dbrel", busybox, "sleep", "300")
    cleanup.append(("container", "dbrel"))
    address = _inspect(engine, "dbrel", "{{.NetworkSettings.IPAddress}}")
    assert address
    engine.docker("stop", "-t", "0", "dbrel")
    assert _inspect(engine, "dbrel", "{{.NetworkSettings.IPAddress}}") == ""
    assert _inspect(engine, "dbrel", "{{.NetworkSettings.Networks.bridge.IPAddress}}") == ""
    listed = json.loads(engine.docker("network", "inspect", "-f", "{{json .Containers}}", "bridge").stdout)
    assert all(v["IPv4Address"] == "" for v in listed.values() if v["Name"] == "dbrel")
    engine.docker("start", "dbrel")
    assert _inspect(engine, "dbrel", "{{.NetworkSettings.IPAddress}}")
    # --ip on a user network: reserved while stopped
    engine.docker("network", "create", "--subnet", "10.97.0.0/24", "dbfix")
    cleanup.append(("network", "dbfix"))
    engine.docker("run", "-d", "--name", "dbfixed", "--network", "dbfix", "--ip", "10.97.0.2", busybox, "sleep", "300")
    cleanup.append(("container", "dbfixed"))
    engine.docker("stop", "-t", "0", "dbfixed")
    engine.docker("run", "-d", "--name", "dbother", "--network", "dbfix", busybox, "sleep", "300")
    cleanup.append(("container", "dbother"))
    assert _inspect(engine, "dbother", "{{.NetworkSettings.Networks.dbfix.IPAddress}}") == "10.97.0.3"
    engine.docker("start", "dbfixed")
    assert _inspect(engine, "dbfixed", "{{.NetworkSettings.Networks.dbfix.IPAddress}}") == "10.97.0.2"
    refused = engine.docker("run", "--rm", "--ip", "172.17.0.99", busybox, "true", check=False)
    assert refused.returncode != 0 and "user defined networks only" in refused.stderr


def test_published_port_of_a_bridge_container(engine: Engine, busybox: str, cleanup: list) -> None:
    engine.docker("run", "-d", "--name", "dbpub", "-p", "127.0.0.1::80", busybox, "sh", "-c", SERVE)
    cleanup.append(("container", "dbpub"))
    assert _fetch_published(engine, "dbpub").startswith("hello-from-")


def test_docker_py_sees_addresses_and_containers_talk(engine: Engine, busybox: str) -> None:
    client = engine.client()
    server = client.containers.run(busybox, ["sh", "-c", SERVE], detach=True, name="dbpyserver")
    try:
        server.reload()
        settings = server.attrs["NetworkSettings"]
        address = settings["IPAddress"]
        assert address and settings["Networks"]["bridge"]["IPAddress"] == address
        assert settings["Networks"]["bridge"]["Gateway"] == settings["Gateway"]
        script = f"for i in 1 2 3 4 5 6 7 8 9 10; do {GET.format(timeout=3, host=address, port=80)} && exit 0; " \
                 "sleep 0.5; done; exit 1"
        output = client.containers.run(busybox, ["sh", "-c", script], remove=True)
        assert b"hello-from-" in output
    finally:
        server.remove(force=True)


def _daemon_pid(engine: Engine) -> int:
    with open(os.path.join(engine.run_dir, "rootlessd.pid")) as f:
        return int(json.load(f)["pid"])


def test_daemon_kill_and_restart_keep_bridge_containers_connected(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    eng.docker("pull", "-q", images.busybox, timeout=300)
    eng.docker("run", "-d", "--name", "dbkeep", images.busybox, "sh", "-c", SERVE)
    address = _inspect(eng, "dbkeep", "{{.NetworkSettings.IPAddress}}")
    assert _get_until(eng, images.busybox, address, 80).startswith("hello-from-")
    os.kill(_daemon_pid(eng), signal.SIGKILL)
    time.sleep(0.5)
    eng.cli("info")  # a new daemon adopts the namespace
    assert _get_until(eng, images.busybox, address, 80).startswith("hello-from-")
    eng.cli("system", "stop", timeout=60)  # a clean stop leaves running containers running
    eng.cli("info")
    assert _inspect(eng, "dbkeep", "{{.NetworkSettings.IPAddress}}") == address
    assert _get_until(eng, images.busybox, address, 80).startswith("hello-from-")
    # a new container does not get the address of the adopted one
    eng.docker("run", "-d", "--name", "dbnew", images.busybox, "sleep", "300")
    assert _inspect(eng, "dbnew", "{{.NetworkSettings.IPAddress}}") not in ("", address)
    eng.docker("rm", "-f", "dbkeep", "dbnew")


def test_own_slirp4netns_opts_in_to_loopback_and_publishes_its_ports(
        engine: Engine, busybox: str, loopback: int, cleanup: list) -> None:
    # podman's option syntax: the docker CLI would parse "a=b" itself, so through docker-py
    client = engine.client()
    script = GET.format(timeout=3, host="10.0.2.2", port=loopback)
    output = client.containers.run(busybox, ["sh", "-c", script], remove=True,
                                   network_mode="slirp4netns:allow_host_loopback=true")
    assert b"host-loopback" in output
    assert _get(engine, busybox, "10.0.2.2", loopback, "--network", "slirp4netns", timeout=2) == ""
    engine.docker("run", "-d", "--name", "dbownpub", "--network", "slirp4netns", "-p", "127.0.0.1::80", busybox,
                  "sh", "-c", SERVE)
    cleanup.append(("container", "dbownpub"))
    assert list(json.loads(_inspect(engine, "dbownpub", "{{json .NetworkSettings.Networks}}"))) == ["slirp4netns"]
    assert _fetch_published(engine, "dbownpub").startswith("hello-from-")
