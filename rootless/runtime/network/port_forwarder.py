"""Published ports of one container: host sockets forwarded to its address, client address kept.

usage: python -m rootless.runtime.network.port_forwarder [--ready-fd=N] NETNS_FILE TABLE_FILE SPEC_JSON

A process of its own per container (podman's rootlessport shape), started
detached by the daemon so forwards survive a daemon restart. The daemon binds
the host sockets (so a taken port is its error, in docker's words) and passes
them as inherited fds; SPEC_JSON lists {"fd", "proto", "ip", "port"}. This
process then joins the shared network namespace, and every connection it
makes to the container is a kernel socket there: no user-mode TCP stack in
the path (slirp4netns's hostfwd is one, ~10x slower).

The client's address is kept: the socket toward the container is bound to
it with IP_TRANSPARENT (we are root of the user namespace that owns the
namespace), as HAProxy's "usesrc clientip" does, and the namespace's
divert rule (plumbing.divert_ruleset) delivers the container's replies back
to that socket instead of routing them to the uplink. A client on the host's
loopback can't be impersonated there: the container sees the bridge's gateway.
"""
from __future__ import annotations

import _thread
import contextlib
import fcntl
import json
import logging
import os
import socket
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from rootless.runtime.network import names
from rootless.util import linux

logger = logging.getLogger("rootless.ports")

IP_TRANSPARENT = 19  # linux/in.h; not in Python's socket module before 3.12
F_SETPIPE_SZ = 1031  # linux/fcntl.h; fcntl.F_SETPIPE_SZ only from Python 3.10
CHUNK = 1 << 20  # pipe-max-size's default: an unprivileged process may ask for this much
WATCH_INTERVAL = 2.0  # seconds between looks at the name table (watch_endpoint)
UDP_IDLE = 120.0  # seconds a UDP flow without traffic keeps its socket (conntrack's stream timeout)
Address = Tuple[str, int]


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


def pump(source: socket.socket, sink: socket.socket, finished: Callable[[], None]) -> None:
    """Copy until EOF, then pass the EOF on (half-close), as a TCP proxy must."""
    try:
        if hasattr(os, "splice"):
            _splice_all(source, sink)
        else:
            _copy_all(source, sink)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finished()


def _splice_all(source: socket.socket, sink: socket.socket) -> None:
    """Zero-copy through a pipe (os.splice, Python >= 3.10)."""
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):  # a bigger pipe: 16x fewer splice calls than the default 64 KiB
        fcntl.fcntl(write_end, F_SETPIPE_SZ, CHUNK)
    splice = getattr(os, "splice")
    try:
        while True:
            moved = splice(source.fileno(), write_end, CHUNK)
            if not moved:
                return
            while moved:
                moved -= splice(read_end, sink.fileno(), moved)
    finally:
        os.close(read_end)
        os.close(write_end)


def _copy_all(source: socket.socket, sink: socket.socket) -> None:
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    while True:
        count = source.recv_into(buffer)
        if not count:
            return
        sink.sendall(view[:count])


def spawn(function: Callable[..., None], *args: Any) -> None:
    """A thread for one connection, without threading.Thread.start()'s wait for it to run.

    That wait is a second scheduling round on a connection's critical path
    (a client waiting for its first byte); on a loaded machine it was most
    of the forwarder's connect latency. Threads die with the process.
    """
    _thread.start_new_thread(function, args)


def serve_tcp(listener: socket.socket, target: Address, transparent: bool) -> None:
    while True:
        try:
            client, peer = listener.accept()
        except OSError as exc:  # e.g. out of fds for a moment: the port must stay served
            logger.warning("accept: %s", exc)
            time.sleep(0.1)
            continue
        spawn(relay_tcp, client, peer, target, transparent)


def relay_tcp(client: socket.socket, peer: Address, target: Address, transparent: bool) -> None:
    """Connect to the container, then copy both ways: this thread one way, a second the other."""
    inner = inner_socket(socket.SOCK_STREAM, peer, transparent)
    try:
        inner.settimeout(10)
        inner.connect(target)
        inner.settimeout(None)
    except OSError as exc:
        logger.debug("connect %s:%d for %s: %s", target[0], target[1], peer[0], exc)  # no log growth per client
        inner.close()
        client.close()  # the client sees the connection closed, as with docker's proxy
        return
    remaining = [2]
    lock = threading.Lock()

    def finished() -> None:  # the second direction done closes both sockets
        with lock:
            remaining[0] -= 1
            if remaining[0]:
                return
        client.close()
        inner.close()

    spawn(pump, client, inner, finished)
    pump(inner, client, finished)


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
    """A thread per host socket (they run until the process ends)."""
    threads = []
    for item in spec:
        target = (str(item["ip"]), int(item["port"]))
        if item["proto"] == "tcp":
            listener = socket.socket(fileno=int(item["fd"]))
            thread = threading.Thread(target=serve_tcp, args=(listener, target, transparent), daemon=True)
        else:
            listener = socket.socket(fileno=int(item["fd"]))
            thread = threading.Thread(target=UdpForward(listener, target, transparent).serve, daemon=True)
        thread.start()
        threads.append(thread)
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
