"""Published ports of one container: host sockets forwarded to its address, client address kept.

usage: python -m rootless.runtime.network.port_forwarder [--ready-fd=N] NETNS_FILE TABLE_FILE SPEC_JSON

A process of its own per container (podman's rootlessport shape), started
detached by the daemon so forwards survive a daemon restart. The daemon binds
the host sockets (so a taken port is its error, in docker's words) and passes
them as inherited fds; SPEC_JSON lists {"fd", "proto", "ip", "port"}. This
process then joins the shared network namespace, and every connection it
makes to the container is a kernel socket there: no user-mode TCP stack in
the path (slirp4netns's hostfwd is one, ~10x slower).

Every TCP connection lives in one event loop (TcpLoop: epoll through
selectors, non-blocking accept until EAGAIN, non-blocking connect, splice(2)
through a pipe per direction, TCP_NODELAY both sides): a client's first byte
waits for no thread to be created or scheduled. UDP keeps a thread per port
and per client flow (few, long-lived).

The client's address is kept: the socket toward the container is bound to
it with IP_TRANSPARENT (we are root of the user namespace that owns the
namespace), as HAProxy's "usesrc clientip" does, and the namespace's
divert rule (plumbing.divert_ruleset) delivers the container's replies back
to that socket instead of routing them to the uplink. A client on the host's
loopback can't be impersonated there: the container sees the bridge's gateway.

IPv6 as dockerd does it (its bridge driver's port mapping): a port with no
host address is bound on 0.0.0.0 and on [::] (IPV6_V6ONLY, the same port
number), [::] left out only when the host has IPv6 disabled; an explicit
address binds that family only. The container keeps its IPv4 address, and a
v6 client reaches it as through docker's userland proxy: its address can't
be a source in the IPv4 namespace, so the container sees the gateway.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import heapq
import itertools
import json
import logging
import os
import selectors
import socket
import sys
import threading
import time
from dataclasses import replace
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from rootless.errors import Conflict, InvalidArgument
from rootless.runtime.network import names, slirp
from rootless.runtime.network.slirp import PortMapping
from rootless.util import linux

logger = logging.getLogger("rootless.ports")

IP_TRANSPARENT = 19  # linux/in.h; not in Python's socket module before 3.12
F_SETPIPE_SZ = 1031  # linux/fcntl.h; fcntl.F_SETPIPE_SZ only from Python 3.10
CHUNK = 1 << 20  # pipe-max-size's default: an unprivileged process may ask for this much
WATCH_INTERVAL = 2.0  # seconds between looks at the name table (watch_endpoint)
UDP_IDLE = 120.0  # seconds a UDP flow without traffic keeps its socket (conntrack's stream timeout)
EPHEMERAL_TRIES = 32  # kernel picks for an ephemeral port before giving up on one free in both families
DISABLE_IPV6 = "/proc/sys/net/ipv6/conf/all/disable_ipv6"
Address = Tuple[str, int]
Bound = Tuple[PortMapping, socket.socket]


# -- the host sockets (bound by the daemon, see rootless_netns.publish) -------------------

def host_has_ipv6(path: str = DISABLE_IPV6) -> bool:
    """Whether the host's IPv6 is on: only then does an unspecified host address also mean [::]."""
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip() == "0"
    except OSError:  # no /proc/sys/net/ipv6: the kernel runs with ipv6.disable=1
        return False


def binding_plan(mapping: PortMapping, ipv6: bool) -> List[PortMapping]:
    """The host addresses one published port binds, as dockerd 28 binds them.

    No host address: 0.0.0.0 and [::] (without IPv6 on the host, silently
    0.0.0.0 alone, as docker skips it); an explicit address, v4 ("0.0.0.0",
    "127.0.0.1") or v6 ("::", "::1"), binds that one only.
    """
    if mapping.host_ip:
        return [mapping]
    v4 = replace(mapping, host_ip="0.0.0.0")
    return [v4, replace(mapping, host_ip="::")] if ipv6 else [v4]


def _bind_error(mapping: PortMapping, exc: OSError) -> Exception:
    if exc.errno == errno.EADDRINUSE:
        return slirp.port_in_use(mapping)
    return InvalidArgument(f"can't publish port {mapping.host_port}/{mapping.proto} on {mapping.host_ip}: "
                           f"bind: {exc.strerror}",
                           hint="ports below net.ipv4.ip_unprivileged_port_start need root; "
                                "an explicit host address must be one of the host's")


def bind_host(mapping: PortMapping) -> socket.socket:
    """The host socket of one binding, bound (and listening for tcp); docker's error when taken."""
    kind = socket.SOCK_STREAM if mapping.proto == "tcp" else socket.SOCK_DGRAM
    family = socket.AF_INET6 if ":" in mapping.host_ip else socket.AF_INET
    try:
        sock = socket.socket(family, kind)
    except OSError as exc:  # EAFNOSUPPORT: an explicit v6 address on a host without IPv6
        raise _bind_error(mapping, exc) from None
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free
        if family == socket.AF_INET6:  # [::] is the v6 binding only: 0.0.0.0 is a binding of its own
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((mapping.host_ip or "0.0.0.0", mapping.host_port))
        if kind == socket.SOCK_STREAM:
            sock.listen(128)
    except OSError as exc:
        sock.close()
        raise _bind_error(mapping, exc) from None
    return sock


def bind_same_port(group: Sequence[PortMapping]) -> List[Bound]:
    """Every binding of one published port on one port number (dockerd's needSamePort).

    An ephemeral port is the kernel's pick in the first family; when another
    family has it taken, all are closed and the kernel asked again.
    """
    for _ in range(EPHEMERAL_TRIES):
        bound: List[Bound] = []
        try:
            for mapping in group:
                port = bound[0][1].getsockname()[1] if bound else mapping.host_port
                bound.append((mapping, bind_host(replace(mapping, host_port=port))))
            return [(replace(m, host_port=sock.getsockname()[1]), sock) for m, sock in bound]
        except Conflict:
            _close(bound)
            if group[0].host_port or not bound:
                raise
        except BaseException:
            _close(bound)
            raise
    first = group[0]
    raise Conflict(f"can't publish port {first.container_port}/{first.proto}: no ephemeral host port "
                   f"free on {', '.join(m.host_ip for m in group)} after {EPHEMERAL_TRIES} tries",
                   hint="free some ports, or give a host port")


def _close(bound: Sequence[Bound]) -> None:
    for _, sock in bound:
        sock.close()


@contextlib.contextmanager
def bound_host_sockets(ports: Sequence[PortMapping], ipv6: bool) -> Iterator[List[Bound]]:
    """Every published port's host sockets (binding_plan), all or none; closed on leaving."""
    bound: List[Bound] = []
    try:
        for mapping in ports:
            bound += bind_same_port(binding_plan(mapping, ipv6))
        yield bound
    finally:
        _close(bound)


# -- the forwarder process -----------------------------------------------------------------


def is_impersonable(address: str) -> bool:
    """A client address the namespace may use as a source: IPv4, not loopback, not unspecified."""
    return not (address.startswith("127.") or address in ("0.0.0.0", "") or ":" in address)


def inner_socket(kind: int, client: Address, transparent: bool) -> socket.socket:
    """A socket in the shared namespace with the client's address as its source when possible."""
    inner = socket.socket(socket.AF_INET, kind)
    if transparent and is_impersonable(client[0]):
        try:
            inner.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
            # Port 0: the client's port may be in use here by another flow of the same client.
            inner.bind((client[0], 0 if kind == socket.SOCK_STREAM else client[1]))
        except OSError as exc:  # e.g. the client's address is one of the namespace's own
            logger.debug("source %s not kept: %s", client[0], exc)
            inner.close()
            inner = socket.socket(socket.AF_INET, kind)
    return inner


# -- TCP: one event loop for every connection ---------------------------------------------
#
# A connection costs no thread: the loop accepts (until EAGAIN), connects
# without blocking and moves bytes when the kernel says a socket is ready.
# With a thread per direction, a client's first byte waited for two new
# threads to be scheduled: on a loaded machine that was the p90 connect
# latency (2.6 ms against rootlessport's 0.9; bench/README.md, net section).

SPLICE = getattr(os, "splice", None)  # Python >= 3.10: zero-copy through a pipe
SPLICE_F_MOVE, SPLICE_F_NONBLOCK = 1, 2  # linux/splice.h; os.SPLICE_* only from Python 3.10
COPY_CHUNK = 1 << 18  # the copy fallback's buffer per direction (Python 3.9)
BURST = 8  # chunks one direction moves per wake-up before the others get a turn
CONNECT_TIMEOUT = 10.0  # seconds for the container to accept, as the threaded relay's settimeout
ACCEPT_PAUSE = 0.1  # seconds a listener rests after an accept error (e.g. out of fds)


class SpliceBuffer:
    """Bytes in flight one way, in a pipe (made on first use, then grown to CHUNK)."""

    def __init__(self) -> None:
        self.pending = 0
        self.pipe: Optional[Tuple[int, int]] = None

    def fill(self, source: socket.socket) -> int:
        if self.pipe is None:
            self.pipe = os.pipe()
            with contextlib.suppress(OSError):  # 16x fewer splice calls than the default 64 KiB
                fcntl.fcntl(self.pipe[1], F_SETPIPE_SZ, CHUNK)
        assert SPLICE is not None
        moved: int = SPLICE(source.fileno(), self.pipe[1], CHUNK, flags=SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
        self.pending += moved
        return moved

    def drain(self, sink: socket.socket) -> None:
        assert SPLICE is not None and self.pipe is not None
        self.pending -= SPLICE(self.pipe[0], sink.fileno(), self.pending, flags=SPLICE_F_MOVE | SPLICE_F_NONBLOCK)

    def close(self) -> None:
        if self.pipe is not None:
            os.close(self.pipe[0])
            os.close(self.pipe[1])
            self.pipe = None


class CopyBuffer:
    """Bytes in flight one way, in user memory: the fallback without os.splice (Python 3.9)."""

    def __init__(self) -> None:
        self.buffer = bytearray(COPY_CHUNK)
        self.start = self.pending = 0

    def fill(self, source: socket.socket) -> int:
        moved = source.recv_into(self.buffer)
        self.start, self.pending = 0, moved
        return moved

    def drain(self, sink: socket.socket) -> None:
        sent = sink.send(memoryview(self.buffer)[self.start:self.start + self.pending])
        self.start += sent
        self.pending -= sent

    def close(self) -> None:
        self.buffer = bytearray()  # a closed connection may wait in the timers for its connect deadline


Buffer = Union[SpliceBuffer, CopyBuffer]


class Direction:
    """One way of a connection: read source until EOF, then pass the EOF on (half-close)."""

    def __init__(self, source: socket.socket, sink: socket.socket, buffer: Buffer) -> None:
        self.source, self.sink, self.buffer = source, sink, buffer
        self.eof = self.done = False

    def run(self) -> None:
        """Move what the sockets allow now; OSError (reset, broken pipe) is the caller's."""
        for _ in range(BURST):
            try:
                if self.buffer.pending:
                    self.buffer.drain(self.sink)
                    continue
                if self.eof:
                    with contextlib.suppress(OSError):  # the peer is gone already: nothing to tell it
                        self.sink.shutdown(socket.SHUT_WR)
                    self.done = True
                    return
                if not self.buffer.fill(self.source):
                    self.eof = True
            except BlockingIOError:
                return

    def wants_read(self) -> bool:
        return not (self.done or self.eof or self.buffer.pending)

    def wants_write(self) -> bool:
        return not self.done and (self.buffer.pending > 0 or self.eof)


class Connection:
    """A client and its socket toward the container, both non-blocking, in one event loop."""

    def __init__(self, loop: "TcpLoop", client: socket.socket, inner: socket.socket) -> None:
        self.loop, self.client, self.inner = loop, client, inner
        make = SpliceBuffer if SPLICE is not None else CopyBuffer
        self.ways = (Direction(client, inner, make()), Direction(inner, client, make()))
        self.connected = self.closed = False

    def on_connect(self, _events: int) -> None:
        error = self.inner.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            logger.debug("connect for %s: %s", self.client, os.strerror(error))  # no log growth per client
            self.close()  # the client sees the connection closed, as with docker's proxy
            return
        self.connected = True
        self.on_ready(0)  # the container may have written already: its first byte goes now

    def on_ready(self, _events: int) -> None:
        try:
            for way in self.ways:
                way.run()
        except OSError as exc:  # reset or broken pipe on either side ends both ways
            logger.debug("relay: %s", exc)
            self.close()
            return
        if all(way.done for way in self.ways):
            self.close()
            return
        for sock, reader, writer in ((self.client, self.ways[0], self.ways[1]), (self.inner, self.ways[1], self.ways[0])):
            events = (selectors.EVENT_READ if reader.wants_read() else 0) | \
                     (selectors.EVENT_WRITE if writer.wants_write() else 0)
            self.loop.watch(sock, self.on_ready, events)

    def expire(self) -> None:
        if not (self.connected or self.closed):
            logger.debug("connect for %s: timed out", self.client)
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for sock in (self.client, self.inner):
            self.loop.watch(sock, self.on_ready, 0)
            sock.close()
        for way in self.ways:
            way.buffer.close()


class TcpLoop:
    """Every TCP port of the forwarder: selectors (epoll) in one thread, timers for the rare waits."""

    def __init__(self, transparent: bool) -> None:
        self.transparent = transparent
        self.selector = selectors.DefaultSelector()
        self.timers: List[Tuple[float, int, Callable[[], None]]] = []
        self._count = itertools.count()

    def watch(self, sock: socket.socket, callback: Callable[[int], None], events: int) -> None:
        """Call callback(events) when sock is ready for events; 0 stops watching it."""
        key = self.selector.get_map().get(sock.fileno())  # not get_key: its KeyError formats repr(sock), 4 syscalls
        if key is None:
            if events:
                self.selector.register(sock, events, callback)
            return
        if not events:
            self.selector.unregister(sock)
        elif key.events != events or key.data is not callback:
            self.selector.modify(sock, events, callback)

    def later(self, delay: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self.timers, (time.monotonic() + delay, next(self._count), callback))

    def add_listener(self, listener: socket.socket, target: Address) -> None:
        listener.setblocking(False)
        self.watch(listener, lambda _events: self.accept(listener, target), selectors.EVENT_READ)

    def run_once(self) -> None:
        timeout = max(0.0, self.timers[0][0] - time.monotonic()) if self.timers else None
        for key, events in self.selector.select(timeout):
            self._call(key.data, events)
        while self.timers and self.timers[0][0] <= time.monotonic():
            self._call(heapq.heappop(self.timers)[2])

    @staticmethod
    def _call(callback: Callable[..., None], *args: int) -> None:
        try:
            callback(*args)
        except Exception:  # noqa: BLE001 - one connection's surprise must not end every port
            logger.exception("tcp forwarding")

    def run(self) -> None:
        while True:
            self.run_once()

    def accept(self, listener: socket.socket, target: Address) -> None:
        """Every connection waiting (until EAGAIN): a burst of clients costs one wake-up."""
        while True:
            try:
                client, peer = listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # e.g. out of fds for a moment: the port must stay served
                logger.warning("accept: %s", exc)
                self.selector.unregister(listener)
                self.later(ACCEPT_PAUSE, lambda: self.add_listener(listener, target))
                return
            try:
                self.open(client, peer, target)
            except OSError as exc:  # e.g. no fd left for the inner socket: this client only
                logger.warning("connect for %s: %s", peer[0], exc)
                client.close()

    def open(self, client: socket.socket, peer: Address, target: Address) -> None:
        """Start connecting to the container; the relay begins once the connect completes."""
        inner = inner_socket(socket.SOCK_STREAM, peer, self.transparent)
        connection = Connection(self, client, inner)
        try:
            for sock in (client, inner):  # a proxy must not hold back a small write (a prompt, a reply)
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            error = inner.connect_ex(target)
        except OSError:
            connection.close()
            raise
        if error not in (0, errno.EINPROGRESS):
            logger.debug("connect %s:%d for %s: %s", target[0], target[1], peer[0], os.strerror(error))
            connection.close()
            return
        self.watch(inner, connection.on_connect, selectors.EVENT_WRITE)
        self.later(CONNECT_TIMEOUT, connection.expire)


class UdpForward:
    """One host UDP socket: a socket per client in the namespace, replies sent back from the host port."""

    def __init__(self, listener: socket.socket, target: Address, transparent: bool) -> None:
        self.listener, self.target, self.transparent = listener, target, transparent
        self.flows: Dict[Address, Tuple[socket.socket, List[float]]] = {}
        self.lock = threading.Lock()

    def serve(self) -> None:
        while True:
            try:
                data, peer = self.listener.recvfrom(65535)
                self._flow(peer).send(data)
            except OSError as exc:  # one client's trouble (no route, refused) must not end the port
                logger.debug("udp to %s: %s", self.target, exc)

    def _flow(self, peer: Address) -> socket.socket:
        with self.lock:
            found = self.flows.get(peer)
            if found:
                found[1][0] = time.monotonic()
                return found[0]
            inner = inner_socket(socket.SOCK_DGRAM, peer, self.transparent)
            inner.connect(self.target)
            self.flows[peer] = (inner, [time.monotonic()])
        threading.Thread(target=self._replies, args=(peer, inner), daemon=True).start()
        return inner

    def _replies(self, peer: Address, inner: socket.socket) -> None:
        inner.settimeout(5)
        while True:
            try:
                self.listener.sendto(inner.recv(65535), peer)
                self.flows[peer][1][0] = time.monotonic()
            except socket.timeout:
                if time.monotonic() - self.flows[peer][1][0] > UDP_IDLE:
                    break
            except OSError:
                break
        with self.lock:
            self.flows.pop(peer, None)
        inner.close()


def start(spec: List[Dict[str, Any]], transparent: bool) -> List[threading.Thread]:
    """One thread for every TCP port (an event loop), one per UDP port; they run until the process ends."""
    loop = TcpLoop(transparent)
    threads = [threading.Thread(target=loop.run, daemon=True)]
    for item in spec:
        target = (str(item["ip"]), int(item["port"]))
        listener = socket.socket(fileno=int(item["fd"]))
        if item["proto"] == "tcp":
            loop.add_listener(listener, target)
        else:
            threads.append(threading.Thread(target=UdpForward(listener, target, transparent).serve, daemon=True))
    for thread in threads:
        thread.start()
    return threads


def main(argv: Optional[List[str]] = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    ready_fd = -1
    if args and args[0].startswith("--ready-fd="):
        ready_fd = int(args.pop(0).partition("=")[2])
    netns_file, table_file, spec = args[0], args[1], json.loads(args[2])
    transparent = "--no-transparent" not in args[3:]
    addresses = {str(item["ip"]) for item in spec}
    container_ip = addresses.pop() if len(addresses) == 1 else ""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s ports: %(message)s")
    with open(netns_file, "rb") as ns:  # before any thread: new threads inherit the namespace
        linux.setns(ns.fileno(), linux.CLONE_NEWNET)
    start(spec, transparent)
    if ready_fd >= 0:
        os.write(ready_fd, b"1")
        os.close(ready_fd)
    if container_ip:
        watch_endpoint(table_file, container_ip)
    else:
        threading.Event().wait()


def watch_endpoint(table_file: str, address: str) -> None:
    """Exit once address is on no network of the name table: its container was detached.

    unpublish() stops us first on every ordinary stop; this covers a daemon
    killed between publish() and recording our pid in the container, which
    would otherwise leave the host ports held until the namespace goes.
    """
    while True:
        time.sleep(WATCH_INTERVAL)
        try:
            table = names.NameTable.load(table_file)
        except (OSError, ValueError) as exc:  # being replaced, or unreadable: not a reason to drop ports
            logger.debug("name table: %s", exc)
            continue
        if not any(address in entry.names for entry in table.networks.values()):
            logger.info("%s left its networks: forwarder exits", address)
            return


if __name__ == "__main__":
    main()
