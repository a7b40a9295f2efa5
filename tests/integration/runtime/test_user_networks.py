"""User networks through the shared namespace (runtime/network/rootless_netns.py), rootless.

user_networks_script.py drives RootlessNetns in the test engine's user+mount
namespace (via `rootless unshare`), with network namespaces made by
unshare(1) as the containers and busybox as their programs. This process
(root, the host's network namespace) plays the host: an HTTP server and a
fake upstream DNS server on 127.0.0.1 only, and the client of the
published port. No packet leaves the machine.
"""
from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import tempfile
import threading
import urllib.request
from typing import Any, Dict, Iterator

import dnslib  # type: ignore[import-untyped]
import pytest

from tests.integration.conftest import VENV_PYTHON, Engine

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "user_networks_script.py")
OUTSIDE_ADDRESS = "192.0.2.7"  # what the fake upstream says outside.example is (TEST-NET-1)


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"host-hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _fake_upstream(sock: socket.socket) -> None:
    """Answers outside.example with OUTSIDE_ADDRESS, NXDOMAIN for the rest."""
    while True:
        try:
            data, client = sock.recvfrom(4096)
        except OSError:
            return
        try:
            request = dnslib.DNSRecord.parse(data)
        except dnslib.DNSError:
            continue  # garbage (an empty datagram was seen once): a resolver drops it
        reply = request.reply()
        if str(request.q.qname).rstrip(".") == "outside.example":
            reply.add_answer(dnslib.RR(request.q.qname, dnslib.QTYPE.A, rdata=dnslib.A(OUTSIDE_ADDRESS), ttl=5))
        else:
            reply.header.rcode = dnslib.RCODE.NXDOMAIN
        sock.sendto(reply.pack(), client)


@pytest.fixture(scope="module")
def host_side() -> Iterator[Dict[str, int]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns.bind(("127.0.0.1", 0))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(target=_fake_upstream, args=(dns,), daemon=True).start()
    yield {"host_http_port": server.server_address[1], "dns_port": dns.getsockname()[1]}
    server.shutdown()
    dns.close()


@pytest.fixture(scope="module")
def script() -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="rootless-unet-")
    os.chmod(directory, 0o755)
    path = os.path.join(directory, "script.py")
    shutil.copy(SCRIPT, path)
    os.chmod(path, 0o644)
    yield path
    shutil.rmtree(directory, ignore_errors=True)


def logs(state: str) -> str:
    """The responder's and uplink's logs, for a failure message."""
    text = ""
    for name in ("dns.log", "uplink.log"):
        try:
            with open(os.path.join(state, name), encoding="utf-8", errors="replace") as f:
                text += f"--- {name}\n{f.read()[-3000:]}"
        except OSError:
            pass
    return text


def run_phase(engine: Engine, script: str, phase: str, params: Dict[str, Any],
              state_name: str = "user-networks") -> Dict[str, Any]:
    state = os.path.join(engine.root, state_name)
    done = engine.unshare(VENV_PYTHON, script, phase, state, json.dumps(params), check=False, timeout=180)
    lines = done.stdout.strip().splitlines()
    assert lines, f"{phase}: rc {done.returncode}\n{done.stderr}\n{logs(state)}"
    found: Dict[str, Any] = json.loads(lines[-1])
    return found


@pytest.fixture(scope="module")
def phases(engine: Engine, script: str, host_side: Dict[str, int]) -> Iterator[Dict[str, Any]]:
    """setup (its 'daemon' SIGKILLs itself), then the published port from here, then adopt."""
    result: Dict[str, Any] = {"setup": run_phase(engine, script, "setup", host_side)}
    port = result["setup"]["published"]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as reply:
            result["published_body"] = reply.read().decode()
    except OSError as exc:  # one failed check must not hide the others
        result["published_body"] = f"error: {exc}"
    result["published_udp"] = udp_round_trip(result["setup"]["published_udp"])
    result["adopt"] = run_phase(engine, script, "adopt", host_side)
    yield result
    result["teardown"] = run_phase(engine, script, "teardown", {**host_side, "pids": result["setup"]["pids"]})
    assert result["teardown"] == {"netns_left": False}


def udp_round_trip(port: int) -> str:
    """One datagram to the published UDP port and the container's reply (a few tries: UDP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        for _ in range(3):
            sock.sendto(b"ping", ("127.0.0.1", port))
            try:
                return sock.recvfrom(2048)[0].decode()
            except socket.timeout:
                continue
    return "error: no reply"


def check(phase: Dict[str, Any], name: str) -> Dict[str, Any]:
    found: Dict[str, Any] = phase["checks"][name]
    return found


def ok(phase: Dict[str, Any], name: str) -> str:
    result = check(phase, name)
    assert result["rc"] == 0, f"{name}: {result['out']}\n{phase.get('dns_log', '')}"
    out: str = result["out"]
    return out


def test_same_network_reaches_by_ip(phases: Dict[str, Any]) -> None:
    assert ok(phases["setup"], "ip_same_net") == "hello from c1"


def test_names_aliases_and_short_id_resolve_on_the_network(phases: Dict[str, Any]) -> None:
    for name in ("dns_name", "dns_alias", "dns_short_id"):
        assert "Address: 10.89.200.2" in ok(phases["setup"], name), name


def test_tcp_by_name_through_resolv_conf(phases: Dict[str, Any]) -> None:
    assert ok(phases["setup"], "tcp_by_name").strip() == "hello from c1"


def test_other_names_are_forwarded_to_the_hosts_resolver(phases: Dict[str, Any]) -> None:
    assert f"Address: {OUTSIDE_ADDRESS}" in ok(phases["setup"], "dns_forwarded")


def test_networks_are_isolated(phases: Dict[str, Any]) -> None:
    setup = phases["setup"]
    assert check(setup, "cross_ip")["rc"] == 1 and "timed out" in check(setup, "cross_ip")["out"]
    # Its own network's responder doesn't know web (the upstream says NXDOMAIN) ...
    own = check(setup, "cross_name_own_dns")
    assert "10.89.200.2" not in own["out"] and "NXDOMAIN" in own["out"]
    # ... and the other network's responder is out of reach.
    other = check(setup, "cross_other_dns")
    assert other["rc"] != 0 and "10.89.200.2" not in other["out"]


def test_internal_network_has_no_uplink(phases: Dict[str, Any]) -> None:
    setup = phases["setup"]
    assert "default" not in ok(setup, "internal_routes")
    assert "Network is unreachable" in check(setup, "internal_uplink")["out"]
    # A container that routes itself out anyway is stopped by the firewall.
    ok(setup, "internal_own_route")
    assert "timed out" in check(setup, "internal_uplink_with_own_route")["out"]
    assert "REFUSED" in check(setup, "internal_forward")["out"]
    assert "Address: 10.89.202.2" in ok(setup, "internal_name")


def test_uplink_reaches_host_loopback_only_when_opted_in(phases: Dict[str, Any]) -> None:
    assert ok(phases["setup"], "uplink_loopback_opted_in") == "host-hello"
    assert "timed out" in check(phases["setup"], "uplink_loopback_not_opted_in")["out"]


def test_attach_sets_address_mac_and_interface(phases: Dict[str, Any]) -> None:
    info = phases["setup"]["info"]["c1"]
    assert info["interface"] == "eth0" and info["prefixlen"] == 24 and info["gateway"] == "10.89.200.1"
    assert "02:42:0a:59:c8:02" in ok(phases["setup"], "c1_addr")


def test_published_port_reaches_the_container(phases: Dict[str, Any]) -> None:
    assert phases["published_body"] == "hello from c1"


def test_published_udp_port_gets_its_reply_back(phases: Dict[str, Any]) -> None:
    # a client on the host's loopback can't be impersonated in the namespace: it is the bridge's gateway
    # (a remote client's own address is kept: tests/integration/containers/test_published_ports.py)
    assert phases["published_udp"] == "10.89.200.1 ping"


def test_restarted_daemon_adopts_namespace_uplink_and_dns(phases: Dict[str, Any]) -> None:
    setup, adopt = phases["setup"], phases["adopt"]
    for key in ("netns_inode", "uplink_pid", "dns_pid"):
        assert adopt[key] == setup[key], key
    assert ok(adopt, "ip_same_net") == "hello from c1"
    assert "Address: 10.89.200.2" in ok(adopt, "dns_name")


def test_attach_and_detach_change_names_at_once(phases: Dict[str, Any]) -> None:
    adopt = phases["adopt"]
    assert "Address: 10.89.200.5" in ok(adopt, "late_name")
    assert "02:52:0a:59:c8:01" in ok(adopt, "bridge_mac")  # the gateway's MAC as c2 knows it
    assert ok(adopt, "late_reaches_web").strip() == "hello from c1"
    assert "10.89.200.5" not in check(adopt, "late_gone")["out"]


def test_a_bridge_deleted_behind_the_daemons_back_is_made_again_at_the_next_attach(
        phases: Dict[str, Any]) -> None:
    assert "1 packets received" in ok(phases["adopt"], "bridge_made_again")


def test_killed_responder_comes_back_with_its_names(phases: Dict[str, Any]) -> None:
    adopt = phases["adopt"]
    assert adopt["dns_pid_after"] != adopt["dns_pid"]
    assert "Address: 10.89.200.2" in ok(adopt, "dns_after_responder_restart"), adopt["dns_log"]


def test_pasta_uplink_outbound_names_and_publishing(engine: Engine, script: str,
                                                  host_side: Dict[str, int]) -> None:
    result = run_phase(engine, script, "pasta", {**host_side, "uplink": "pasta"}, state_name="user-networks-pasta")
    assert ok(result, "tcp_by_name").strip() == "hello from c1"
    assert f"Address: {OUTSIDE_ADDRESS}" in ok(result, "dns_forwarded")
    assert ok(result, "uplink_loopback_opted_in") == "host-hello"
    assert "timed out" in check(result, "uplink_loopback_not_opted_in")["out"]
    assert ok(result, "publish") == "hello from c1"
    assert result["netns_left"] is False
