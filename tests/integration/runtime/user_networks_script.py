"""Drive runtime/network/rootless_netns.py INSIDE the engine's namespace (as its root).

usage: python user_networks_script.py PHASE STATE_DIR PARAMS_JSON
(with the rootless package on PYTHONPATH)

PHASE setup: make the shared namespace, three networks (a, b, internal i),
four "containers" (network namespaces of their own, made with unshare(1)),
attach them, run checks, publish c1's port 80, print one JSON object, then
SIGKILL itself: the daemon dies without cleaning up.
PHASE adopt: a new RootlessNetns over the same state dir, as a restarted
daemon; checks that everything still works, attach/detach live, and a killed
responder coming back. PHASE teardown: stop the test's servers, destroy().
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request
from typing import Any, Dict, List

from rootless.runtime.network import plumbing
from rootless.runtime.network.host import BridgeSpec, EndpointSpec
from rootless.runtime.network.rootless_netns import RootlessNetns
from rootless.runtime.network.slirp import PortMapping
from rootless.util import proc

NETS = {"a": BridgeSpec("a" * 64, "10.89.200.0/24", "10.89.200.1"),
        "b": BridgeSpec("b" * 64, "10.89.201.0/24", "10.89.201.1"),
        "i": BridgeSpec("c" * 64, "10.89.202.0/24", "10.89.202.1", internal=True)}
ENDPOINTS = {
    "c1": EndpointSpec(NETS["a"].network_id, "1" * 64, "10.89.200.2", mac="02:42:0a:59:c8:02",
                       names=("web", "web-alias", "111111111111"), host_loopback=True),
    "c2": EndpointSpec(NETS["a"].network_id, "2" * 64, "10.89.200.3", names=("client",)),
    "c3": EndpointSpec(NETS["b"].network_id, "3" * 64, "10.89.201.2", names=("other",)),
    "c4": EndpointSpec(NETS["i"].network_id, "4" * 64, "10.89.202.2", names=("db",)),
}
BUSYBOX = "/usr/bin/busybox"


def sh(host: RootlessNetns, ctr: str, argv: List[str], timeout: float = 15) -> Dict[str, Any]:
    """argv in container ctr's network namespace: rc and output."""
    done = proc.run(["nsenter", f"--net={ctr_path(host, ctr)}", "--", *argv], check=False, timeout=timeout)
    return {"rc": done.returncode, "out": done.text + done.stderr.decode("utf-8", "replace")}


def ctr_path(host: RootlessNetns, ctr: str) -> str:
    return os.path.join(host.state_dir, f"ctr-{ctr}")


def wget(host: RootlessNetns, ctr: str, url: str) -> Dict[str, Any]:
    """GET url from ctr by address (busybox-static's wget crashes here): body, or rc 1 and the error."""
    code = ("import sys, urllib.request\ntry:\n"
            f"    print(urllib.request.urlopen({url!r}, timeout=3).read().decode(), end='')\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc); sys.exit(1)")
    return sh(host, ctr, [sys.executable, "-c", code])


def nslookup(host: RootlessNetns, ctr: str, name: str, server: str) -> Dict[str, Any]:
    return sh(host, ctr, [BUSYBOX, "timeout", "8", BUSYBOX, "nslookup", "-type=a", name, server])


def by_name(host: RootlessNetns, ctr: str, url: str, nameserver: str) -> Dict[str, Any]:
    """A dynamic program resolving through /etc/resolv.conf, as in a container (own mount ns)."""
    resolv = os.path.join(host.state_dir, f"resolv-{ctr}.conf")
    with open(resolv, "w") as f:
        f.write(f"nameserver {nameserver}\noptions timeout:2 attempts:1\n")
    code = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
    return sh(host, ctr, ["unshare", "-m", "sh", "-c",
                          f"mount --bind {resolv} /etc/resolv.conf && exec {sys.executable} -c \"{code}\""])


def new_container(host: RootlessNetns, ctr: str) -> str:
    path = ctr_path(host, ctr)
    open(path, "a").close()
    proc.run(["unshare", f"--net={path}", "true"])
    return path


def start_httpd(host: RootlessNetns, ctr: str, text: str) -> int:
    www = os.path.join(host.state_dir, f"www-{ctr}")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write(text)
    httpd = proc.popen(["nsenter", f"--net={ctr_path(host, ctr)}", "--", BUSYBOX, "httpd", "-f", "-p", "80",
                        "-h", www], start_new_session=True)
    return httpd.pid


def start_udp_echo(host: RootlessNetns, ctr: str, port: int) -> int:
    """Sends each datagram back, prefixed with the address it came from."""
    code = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"s.bind(('0.0.0.0', {port}))\n"
            "while True:\n    data, peer = s.recvfrom(2048)\n    s.sendto(peer[0].encode() + b' ' + data, peer)\n")
    echo = proc.popen(["nsenter", f"--net={ctr_path(host, ctr)}", "--", sys.executable, "-c", code],
                      start_new_session=True)
    return echo.pid


def setup(host: RootlessNetns, params: Dict[str, Any]) -> Dict[str, Any]:
    host.ensure()
    for spec in NETS.values():
        host.create_bridge(spec)
    info = {}
    for ctr, endpoint in ENDPOINTS.items():
        info[ctr] = host.attach(new_container(host, ctr), endpoint).__dict__
    pids = [start_httpd(host, "c1", "hello from c1"), start_httpd(host, "c4", "hello from c4"),
            start_udp_echo(host, "c1", 7)]
    published = host.publish([PortMapping("tcp", 80, 0, "127.0.0.1"), PortMapping("udp", 7, 0, "127.0.0.1")],
                             ENDPOINTS["c1"].ipv4)
    hostport = params["host_http_port"]
    checks = {
        "ip_same_net": wget(host, "c2", "http://10.89.200.2/"),
        "dns_name": nslookup(host, "c2", "web", "10.89.200.1"),
        "dns_alias": nslookup(host, "c2", "web-alias", "10.89.200.1"),
        "dns_short_id": nslookup(host, "c2", "111111111111", "10.89.200.1"),
        "tcp_by_name": by_name(host, "c2", "http://web/", "10.89.200.1"),
        "dns_forwarded": nslookup(host, "c2", "outside.example", "10.89.200.1"),
        "cross_ip": wget(host, "c3", "http://10.89.200.2/"),
        "cross_name_own_dns": nslookup(host, "c3", "web", "10.89.201.1"),
        "cross_other_dns": nslookup(host, "c3", "web", "10.89.200.1"),
        "internal_routes": sh(host, "c4", ["ip", "route"]),
        "internal_uplink": wget(host, "c4", f"http://10.0.2.2:{hostport}/"),
        "internal_forward": nslookup(host, "c4", "outside.example", "10.89.202.1"),
        "internal_name": nslookup(host, "c4", "db", "10.89.202.1"),
        "internal_own_route": sh(host, "c4", ["ip", "route", "add", "default", "via", "10.89.202.1"]),
        "internal_uplink_with_own_route": wget(host, "c4", f"http://10.0.2.2:{hostport}/"),
        "uplink_loopback_opted_in": wget(host, "c1", f"http://10.0.2.2:{hostport}/"),
        "uplink_loopback_not_opted_in": wget(host, "c2", f"http://10.0.2.2:{hostport}/"),
        "c1_addr": sh(host, "c1", ["ip", "-o", "link", "show", "eth0"]),
    }
    return {"info": info, "checks": checks, "pids": pids, "published": published[0].mapping.host_port,
            "published_udp": published[1].mapping.host_port,
            **identity(host)}


def identity(host: RootlessNetns) -> Dict[str, Any]:
    """What a restarted daemon must find unchanged."""
    return {"netns_inode": os.stat(host.netns_file).st_ino, "uplink_pid": host._pid_of("uplink"),
            "dns_pid": host._pid_of("dns")}


def adopt(host: RootlessNetns, params: Dict[str, Any]) -> Dict[str, Any]:
    host.ensure()
    before = identity(host)
    for spec in NETS.values():  # a restarted daemon declares its networks again
        host.create_bridge(spec)
    checks = {"ip_same_net": wget(host, "c2", "http://10.89.200.2/"),
              "dns_name": nslookup(host, "c2", "web", "10.89.200.1")}
    # A MAC lower than every other port's: a bridge without a MAC of its own would take
    # it, and c2's ARP entry for the gateway would go stale (the lookup below times out).
    host.attach(new_container(host, "c5"), EndpointSpec(NETS["a"].network_id, "5" * 64, "10.89.200.5",
                                                       mac="02:00:00:00:00:05", names=("late",)))
    checks["bridge_mac"] = sh(host, "c2", ["ip", "neigh", "show", "10.89.200.1"])
    checks["late_name"] = nslookup(host, "c2", "late", "10.89.200.1")
    checks["late_reaches_web"] = by_name(host, "c5", "http://web-alias/", "10.89.200.1")
    host.detach(ctr_path(host, "c5"), EndpointSpec(NETS["a"].network_id, "5" * 64, "10.89.200.5"))
    checks["late_gone"] = nslookup(host, "c2", "late", "10.89.200.1")
    os.kill(before["dns_pid"], signal.SIGKILL)  # the responder crashes; the next ensure() restarts it
    wait_gone(before["dns_pid"])
    host.ensure()
    checks["dns_after_responder_restart"] = nslookup(host, "c2", "web", "10.89.200.1")
    # A bridge deleted behind the daemon's back: create_bridge trusts what it set up, and
    # the next attach finds it gone and has it made again.
    host.run_in(host.netns_file, ["ip", "link", "del", plumbing.bridge_name(NETS["b"].network_id)])
    host.create_bridge(NETS["b"])
    host.attach(new_container(host, "c6"), EndpointSpec(NETS["b"].network_id, "6" * 64, "10.89.201.6"))
    checks["bridge_made_again"] = sh(host, "c6", [BUSYBOX, "ping", "-c", "1", "-W", "3", "10.89.201.1"])
    with open(os.path.join(host.state_dir, "dns.log")) as f:
        log = f.read()[-2000:]
    return {"checks": checks, **before, "dns_pid_after": host._pid_of("dns"), "dns_log": log}


def wait_gone(pid: int) -> None:
    """Until pid has exited (a zombie counts: its sockets are closed)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return
        except OSError:
            return
        time.sleep(0.01)


def teardown(host: RootlessNetns, params: Dict[str, Any]) -> Dict[str, Any]:
    for pid in params.get("pids", []):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for spec in NETS.values():
        host.remove_bridge(spec.network_id)
    host.destroy()
    return {"netns_left": os.path.exists(host.netns_file)}


def pasta(host: RootlessNetns, params: Dict[str, Any]) -> Dict[str, Any]:
    """The pasta uplink: outbound (to the host's loopback through its gateway), names, published ports."""
    host.ensure()
    host.create_bridge(NETS["a"])
    for ctr in ("c1", "c2"):
        host.attach(new_container(host, ctr), ENDPOINTS[ctr])
    pid = start_httpd(host, "c1", "hello from c1")
    gateway = str(host._state("uplink")["host_loopback"])
    url = f"http://{gateway}:{params['host_http_port']}/"
    checks = {"tcp_by_name": by_name(host, "c2", "http://web/", "10.89.200.1"),
              "dns_forwarded": nslookup(host, "c2", "outside.example", "10.89.200.1"),
              "uplink_loopback_opted_in": wget(host, "c1", url),
              "uplink_loopback_not_opted_in": wget(host, "c2", url)}
    try:  # published ports don't go through the uplink (port_forwarder.py): pasta's too
        published = host.publish([PortMapping("tcp", 80, 0, "127.0.0.1")], ENDPOINTS["c1"].ipv4)
        port = published[0].mapping.host_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as reply:
            checks["publish"] = {"rc": 0, "out": reply.read().decode()}
        host.unpublish(published)
    except Exception as exc:
        checks["publish"] = {"rc": 1, "out": f"{type(exc).__name__}: {exc}"}
    os.kill(pid, signal.SIGKILL)
    host.remove_bridge(NETS["a"].network_id)
    host.destroy()
    return {"checks": checks, "netns_left": os.path.exists(host.netns_file)}


def main() -> None:
    phase, state_dir, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    host = RootlessNetns(state_dir, uplink=params.get("uplink", "slirp4netns"),
                         upstreams=[f"127.0.0.1:{params['dns_port']}"])
    result = {"setup": setup, "adopt": adopt, "teardown": teardown, "pasta": pasta}[phase](host, params)
    print(json.dumps(result), flush=True)
    if phase == "setup":
        os.kill(os.getpid(), signal.SIGKILL)  # a daemon killed: nothing cleaned up


if __name__ == "__main__":
    main()
