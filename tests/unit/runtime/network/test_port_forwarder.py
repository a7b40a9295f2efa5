"""Published ports: the forwarder's pure parts, the divert rules' text, docker's wording for a taken port."""
from __future__ import annotations

import os
import socket
import threading
from typing import Any, Iterator, Tuple

import pytest

from rootless.errors import Conflict
from rootless.runtime.network import names, plumbing, port_forwarder, slirp
from rootless.runtime.network.slirp import PortMapping
from tests.fakes import sink


@pytest.mark.parametrize("address, expected", [
    ("10.231.0.2", True), ("192.0.2.7", True), ("127.0.0.1", False), ("127.8.0.1", False), ("0.0.0.0", False),
    ("::1", False), ("fd00::2", False)])
def test_only_non_loopback_clients_are_impersonated(address: str, expected: bool) -> None:
    assert port_forwarder.is_impersonable(address) is expected


def test_inner_socket_without_transparency_is_a_plain_unbound_socket() -> None:
    with port_forwarder.inner_socket(socket.SOCK_STREAM, ("10.231.0.2", 5000), transparent=False) as sock:
        assert sock.getsockname() == ("0.0.0.0", 0)


@pytest.fixture(params=["splice", "copy"])
def relay(request: Any, monkeypatch: Any) -> Iterator[Tuple[int, socket.socket]]:
    """A TcpLoop (its own thread) forwarding a 127.0.0.1 port to the counting sink; both ways of copying."""
    if request.param == "copy":  # the Python 3.9 path
        monkeypatch.setattr(port_forwarder, "SPLICE", None)
    elif port_forwarder.SPLICE is None:
        pytest.skip("os.splice needs Python 3.10")
    server = sink.start()
    yield _forwarded_port(server.getsockname()), server
    server.close()


def _forwarded_port(target: Tuple[str, int]) -> int:
    """A 127.0.0.1 port a TcpLoop (in a thread of its own) forwards to target."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    loop = port_forwarder.TcpLoop(transparent=False)
    loop.add_listener(listener, target)
    threading.Thread(target=loop.run, daemon=True).start()
    port: int = listener.getsockname()[1]
    return port


def _send_and_count(port: int, size: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        assert client.recv(1) == b"+"
        client.sendall(b"x" * size)  # more than the socket buffers hold: the loop must drain as it reads
        client.shutdown(socket.SHUT_WR)
        answer = b""
        while True:
            chunk = client.recv(64)
            if not chunk:
                return int(answer)
            answer += chunk


def test_relay_copies_both_ways_and_passes_the_half_close_on(relay: Tuple[int, socket.socket]) -> None:
    assert _send_and_count(relay[0], 3 << 20) == 3 << 20


def test_relay_serves_many_clients_at_once_without_a_thread_each(relay: Tuple[int, socket.socket]) -> None:
    """The old relay held two threads per open connection: a client's first byte waited for them."""
    before = len(os.listdir("/proc/self/task"))
    clients = [socket.create_connection(("127.0.0.1", relay[0]), timeout=10) for _ in range(20)]
    assert all(c.recv(1) == b"+" for c in clients)
    # the counting server's own threads are 20; the forwarder's share must be none
    assert len(os.listdir("/proc/self/task")) <= before + 20
    for c in clients:
        c.close()
    assert _send_and_count(relay[0], 1000) == 1000


def test_relay_closes_the_client_when_the_container_refuses() -> None:
    with socket.socket() as nobody:  # bound, not listening: a connect to it is refused
        nobody.bind(("127.0.0.1", 0))
        port = _forwarded_port(nobody.getsockname())
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            assert client.recv(1) == b""  # closed, as docker's proxy does


def test_divert_rule_marks_transparent_sockets_and_routes_them_home() -> None:
    rules = plumbing.divert_ruleset()
    assert "socket transparent 1 meta mark set 0x5250" in rules
    assert "hook prerouting" in rules
    routes = plumbing.divert_routes("0: from all lookup local\n")
    assert "route replace local 0.0.0.0/0 dev lo table 21072" in routes
    assert "rule add fwmark 0x5250 lookup 21072" in routes
    # a second ensure() adds no second rule
    assert "rule add" not in plumbing.divert_routes("100: from all fwmark 0x5250 lookup 21072\n")


def test_input_chain_lets_diverted_replies_in_and_old_tables_are_updated() -> None:
    base = plumbing.base_ruleset()
    assert plumbing.input_chain_is_current(base)
    old = base.replace(" meta mark != 0x00005250", "")
    assert not plumbing.input_chain_is_current(old)
    update = plumbing.input_chain_update()
    assert update.startswith(f"flush chain inet {plumbing.TABLE} input\n")
    assert "meta mark != 0x00005250 fib daddr . iif type != local drop" in update


def test_taken_port_in_dockers_words() -> None:
    error = slirp.port_in_use(PortMapping("tcp", 80, 8080))
    assert isinstance(error, Conflict)
    assert str(error.message).endswith("listen tcp4 0.0.0.0:8080: bind: address already in use")
    udp6 = slirp.port_in_use(PortMapping("udp", 53, 5353, "::1"))
    assert "listen udp6 [::1]:5353: bind: address already in use" in udp6.message


def test_check_host_port_refuses_a_port_held_here(tmp_path: object) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        with pytest.raises(Conflict, match="bind: address already in use"):
            slirp.check_host_port(PortMapping("tcp", 80, port, "127.0.0.1"))


def test_forwarder_exits_once_its_address_left_the_name_table(tmp_path: Any, monkeypatch: Any) -> None:
    """A forwarder whose pid the engine never recorded (daemon killed) still ends with its container."""
    table = names.NameTable(str(tmp_path / "names.json"))
    table.set_network("n1", "10.89.0.1", False)
    table.add("n1", "10.89.0.2", ["web"])
    table.save()
    monkeypatch.setattr(port_forwarder, "WATCH_INTERVAL", 0.01)
    watcher = threading.Thread(target=port_forwarder.watch_endpoint, args=(table.path, "10.89.0.2"), daemon=True)
    watcher.start()
    watcher.join(0.2)
    assert watcher.is_alive()  # still attached: keeps forwarding
    table.remove("n1", "10.89.0.2")
    table.save()
    watcher.join(5)
    assert not watcher.is_alive()
