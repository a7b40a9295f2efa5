"""Containers on user networks find and reach each other (issue 10), through the docker CLI.

Each container on a network made by `docker network create` gets a veth on that
network's bridge in the engine's shared namespace, its IPAM address, and names in
the network's DNS (container name, --network-alias / compose service, short id).
Everything stays inside the engine's namespaces: no packet leaves the machine.
"""
from __future__ import annotations

import json
import os
import signal
import tempfile
import time

from tests.integration.conftest import Engine

SERVE = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"


def _fetch(engine: Engine, image: str, network: str, url: str, timeout: int = 5) -> "tuple[int, str]":
    """GET url from a throw-away container on network: (exit code, body).

    With nc: busybox-static's wget crashes in these containers (as in
    tests/integration/runtime/user_networks_script.py).
    """
    host, _, path = url.split("//", 1)[1].partition("/")
    script = f"printf 'GET /{path} HTTP/1.0\\r\\n\\r\\n' | nc -w {timeout} {host} 80"
    done = engine.docker("run", "--rm", "--network", network, image, "sh", "-c", script, check=False, timeout=120)
    ok = done.returncode == 0 and " 200 " in done.stdout.split("\n", 1)[0]
    body = done.stdout.replace("\r\n", "\n").split("\n\n", 1)[-1]  # the headers end at the empty line
    return (0 if ok else 1), body


def _fetch_until(engine: Engine, image: str, network: str, url: str, tries: int = 10) -> str:
    """The server may take a moment to listen after `run -d` returns."""
    for _ in range(tries):
        code, body = _fetch(engine, image, network, url)
        if code == 0:
            return body
        time.sleep(0.5)
    raise AssertionError(f"wget {url} on {network}: failed {tries} times")


def _serve(engine: Engine, image: str, name: str, *options: str) -> None:
    engine.docker("run", "-d", "--name", name, *options, image, "sh", "-c", SERVE)


def test_containers_reach_each_other_by_name_alias_short_id_and_address(
        engine: Engine, busybox: str, cleanup: list) -> None:
    engine.docker("network", "create", "un1")
    cleanup.append(("network", "un1"))
    _serve(engine, busybox, "una", "--network", "un1", "--network-alias", "web")
    cleanup.append(("container", "una"))
    assert _fetch_until(engine, busybox, "un1", "http://una/").startswith("hello-from-")
    assert _fetch(engine, busybox, "un1", "http://web/")[0] == 0
    short_id = engine.docker("inspect", "-f", "{{.Id}}", "una").stdout.strip()[:12]
    assert _fetch(engine, busybox, "un1", f"http://{short_id}/")[0] == 0
    address = engine.docker("inspect", "-f", "{{.NetworkSettings.Networks.un1.IPAddress}}", "una").stdout.strip()
    subnet = json.loads(engine.docker("network", "inspect", "-f", "{{json .IPAM.Config}}", "un1").stdout)[0]
    assert address and address.rsplit(".", 1)[0] == subnet["Subnet"].rsplit(".", 1)[0]
    assert _fetch(engine, busybox, "un1", f"http://{address}/")[0] == 0
    # the container itself sees that address on eth0
    shown = engine.docker("exec", "una", "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
    assert f"inet {address}/" in shown


def test_other_networks_are_cut_off_until_connect(engine: Engine, busybox: str, cleanup: list) -> None:
    for name in ("uc1", "uc2"):
        engine.docker("network", "create", name)
        cleanup.append(("network", name))
    _serve(engine, busybox, "ucserver", "--network", "uc1")
    cleanup.append(("container", "ucserver"))
    address = engine.docker("inspect", "-f", "{{.NetworkSettings.Networks.uc1.IPAddress}}",
                            "ucserver").stdout.strip()
    _fetch_until(engine, busybox, "uc1", "http://ucserver/")
    assert _fetch(engine, busybox, "uc2", "http://ucserver/", timeout=2)[0] != 0  # no name
    assert _fetch(engine, busybox, "uc2", f"http://{address}/", timeout=2)[0] != 0  # no route either
    engine.docker("network", "connect", "--alias", "late", "uc2", "ucserver")
    assert _fetch_until(engine, busybox, "uc2", "http://ucserver/").startswith("hello-from-")
    assert _fetch(engine, busybox, "uc2", "http://late/")[0] == 0
    engine.docker("network", "disconnect", "uc2", "ucserver")
    assert _fetch(engine, busybox, "uc2", "http://ucserver/", timeout=2)[0] != 0
    assert _fetch(engine, busybox, "uc1", "http://ucserver/")[0] == 0  # its own network is untouched


def test_stop_detaches_and_start_attaches_again(engine: Engine, busybox: str, cleanup: list) -> None:
    engine.docker("network", "create", "us1")
    cleanup.append(("network", "us1"))
    _serve(engine, busybox, "usserver", "--network", "us1")
    cleanup.append(("container", "usserver"))
    _fetch_until(engine, busybox, "us1", "http://usserver/")
    engine.docker("stop", "-t", "1", "usserver")
    assert _fetch(engine, busybox, "us1", "http://usserver/", timeout=2)[0] != 0
    engine.docker("start", "usserver")
    assert _fetch_until(engine, busybox, "us1", "http://usserver/").startswith("hello-from-")


def test_internal_network_has_no_uplink(engine: Engine, busybox: str, cleanup: list) -> None:
    engine.docker("network", "create", "--internal", "uint")
    cleanup.append(("network", "uint"))
    assert engine.docker("network", "inspect", "-f", "{{.Internal}}", "uint").stdout.strip() == "true"
    _serve(engine, busybox, "uinserver", "--network", "uint")
    cleanup.append(("container", "uinserver"))
    assert _fetch_until(engine, busybox, "uint", "http://uinserver/").startswith("hello-from-")
    # no default route, so the uplink's gateway (the host side) is unreachable
    routes = engine.docker("exec", "uinserver", "ip", "route").stdout
    assert "default" not in routes, routes
    code, _ = _fetch(engine, busybox, "uint", "http://10.0.2.2/", timeout=2)
    assert code != 0


def test_published_port_of_a_user_network_container(engine: Engine, busybox: str, cleanup: list) -> None:
    engine.docker("network", "create", "upub")
    cleanup.append(("network", "upub"))
    _serve(engine, busybox, "upserver", "--network", "upub", "-p", "127.0.0.1::80")
    cleanup.append(("container", "upserver"))
    port = engine.docker("port", "upserver", "80/tcp").stdout.strip().rsplit(":", 1)[1]
    body = ""
    for _ in range(20):
        done = engine.user.run(["python3", "-c", "import urllib.request; print(urllib.request.urlopen("
                                f"'http://127.0.0.1:{port}/', timeout=3).read().decode())"], check=False)
        if done.returncode == 0:
            body = done.stdout
            break
        time.sleep(0.5)
    assert body.startswith("hello-from-")


def test_sigkilled_daemon_keeps_containers_on_their_network(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    eng.docker("pull", "-q", images.busybox, timeout=300)
    eng.docker("network", "create", "ukill")
    _serve(eng, images.busybox, "ukserver", "--network", "ukill")
    _fetch_until(eng, images.busybox, "ukill", "http://ukserver/")
    os.kill(eng.daemon_pid(), signal.SIGKILL)
    time.sleep(0.5)
    eng.cli("info")  # a new daemon adopts the namespace and its DNS
    assert _fetch_until(eng, images.busybox, "ukill", "http://ukserver/").startswith("hello-from-")
    eng.docker("rm", "-f", "ukserver")
    eng.docker("network", "rm", "ukill")


COMPOSE = """\
version: "3.7"
services:
  server:
    image: {image}
    command: ["sh", "-c", "{serve}"]
  client:
    image: {image}
    depends_on: [server]
    command: ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET / HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc -w 3 server 80 | grep hello && exit 0; sleep 1; done; exit 1"]
"""


def test_compose_client_reaches_server_by_service_name(engine: Engine, busybox: str) -> None:
    directory = tempfile.mkdtemp(prefix="rootless-compose-", dir="/tmp")
    os.chmod(directory, 0o755)
    with open(os.path.join(directory, "docker-compose.yml"), "w") as f:
        f.write(COMPOSE.format(image=busybox, serve=SERVE.replace("$", "$$")))  # compose interpolates $
    os.chmod(os.path.join(directory, "docker-compose.yml"), 0o644)
    compose = ["/usr/bin/docker-compose", "-p", "unetapp", "-f", os.path.join(directory, "docker-compose.yml")]
    try:
        engine.user.run([*compose, "up", "-d", "server"], env=engine.env, timeout=180)
        done = engine.user.run([*compose, "run", "--rm", "client"], env=engine.env, timeout=180, check=False)
        assert done.returncode == 0 and "hello-from-" in done.stdout, (done.stdout, done.stderr)
    finally:
        engine.user.run([*compose, "down", "-t", "1"], env=engine.env, timeout=180, check=False)


def test_a_bridge_container_joins_a_user_network_live_and_rm_frees_its_address(
        engine: Engine, busybox: str, cleanup: list) -> None:
    engine.docker("network", "create", "ubr")
    cleanup.append(("network", "ubr"))
    _serve(engine, busybox, "ubrserver")  # on the default bridge: its own slirp4netns
    cleanup.append(("container", "ubrserver"))
    engine.docker("network", "connect", "ubr", "ubrserver")
    assert _fetch_until(engine, busybox, "ubr", "http://ubrserver/").startswith("hello-from-")
    engine.docker("rm", "-f", "ubrserver")
    containers = engine.docker("network", "inspect", "-f", "{{json .Containers}}", "ubr").stdout.strip()
    assert containers in ("{}", "null"), containers
    assert _fetch(engine, busybox, "ubr", "http://ubrserver/", timeout=2)[0] != 0
