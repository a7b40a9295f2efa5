"""The DNS responder of the shared network namespace: one UDP socket per user network.

usage: python -m rootless.runtime.network.dns_server [--ready-fd=N] NETNS_FILE TABLE_FILE [UPSTREAM ip:port ...]

A process of its own (aardvark-dns's shape), started detached by the daemon,
so containers keep resolving while the daemon restarts. It opens the upstream
socket BEFORE it joins the namespace: that socket stays in the host's network
namespace, so forwarding reaches the host's resolvers, 127.0.0.53 included,
without going through the uplink. Then it joins the namespace and listens on
each network's gateway address, port 53 (we are root of the user namespace
that owns it). SIGHUP reloads the table (names.py) and rebinds listeners.
"""
from __future__ import annotations

import logging
import os
import random
import select
import signal
import socket
import sys
import time
from typing import Dict, List, Optional, Set, Tuple

from rootless.runtime.network import names
from rootless.util import linux

logger = logging.getLogger("rootless.dns")

PORT = 53
FORWARD_TIMEOUT = 5.0
Address = Tuple[str, int]


def parse_upstream(text: str) -> Address:
    host, _, port = text.rpartition(":")
    return host, int(port)


class Responder:
    """Listeners per gateway, one upstream socket, and the queries in flight to it."""

    def __init__(self, table_file: str, upstreams: List[Address], upstream: socket.socket) -> None:
        self.table_file = table_file
        self.upstreams = upstreams
        self.upstream = upstream
        self.table = names.NameTable(table_file)
        self.listeners: Dict[str, Tuple[socket.socket, str]] = {}  # gateway -> (socket, network id)
        # forwarded id -> (listener, client, client's id, deadline)
        self.pending: Dict[int, Tuple[socket.socket, Address, bytes, float]] = {}
        self.warned: Set[str] = set()

    def reload(self) -> None:
        """Read the table again; listen on new gateways, close those gone."""
        self.table = names.NameTable.load(self.table_file)
        wanted = self.wanted()
        for gateway in [g for g in self.listeners if g not in wanted]:
            self.listeners.pop(gateway)[0].close()
        for gateway, network_id in wanted.items():
            if gateway in self.listeners:
                self.listeners[gateway] = (self.listeners[gateway][0], network_id)
        self.bind_missing()

    def wanted(self) -> Dict[str, str]:
        return {entry.gateway: network_id for network_id, entry in self.table.networks.items()}

    def bind_missing(self) -> None:
        """Listen on gateways that have none yet (retried every second: a bridge may come later)."""
        for gateway, network_id in self.wanted().items():
            if gateway in self.listeners:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((gateway, PORT))
            except OSError as exc:
                if gateway not in self.warned:  # retried every second: say it once
                    logger.warning("can't listen: %s:%d: %s", gateway, PORT, exc)
                    self.warned.add(gateway)
                sock.close()
                continue
            self.listeners[gateway] = (sock, network_id)

    def on_query(self, listener: socket.socket, network_id: str) -> None:
        data, client = listener.recvfrom(4096)
        request = names.parse_query(data)
        entry = self.table.networks.get(network_id)
        if request is None or entry is None:
            return
        if names.is_local_question(entry, request):
            listener.sendto(names.answer_local(entry, request), client)
        elif entry.internal or not self.upstreams:
            # An internal network reaches nothing outside, names included (netavark's rule).
            listener.sendto(names.answer_error(request, 5), client)  # REFUSED
        else:
            self.forward(data, listener, client)

    def forward(self, data: bytes, listener: socket.socket, client: Address) -> None:
        query_id = random.randrange(1 << 16)
        while query_id in self.pending:
            query_id = random.randrange(1 << 16)
        self.pending[query_id] = (listener, client, data[:2], time.monotonic() + FORWARD_TIMEOUT)
        self.upstream.sendto(query_id.to_bytes(2, "big") + data[2:], self.upstreams[0])

    def on_upstream(self) -> None:
        data, source = self.upstream.recvfrom(65535)
        if source not in self.upstreams or len(data) < 12:
            return
        waiting = self.pending.pop(int.from_bytes(data[:2], "big"), None)
        if waiting:
            listener, client, client_id, _ = waiting
            listener.sendto(client_id + data[2:], client)

    def expire(self) -> None:
        now = time.monotonic()
        for query_id in [q for q, w in self.pending.items() if w[3] < now]:
            del self.pending[query_id]


def serve(responder: Responder, wake_fd: int, ready_fd: int) -> None:
    responder.reload()
    if ready_fd >= 0:  # signal handlers are in place: SIGHUP no longer kills us
        os.write(ready_fd, b"1")
        os.close(ready_fd)
    while True:
        by_fd = {sock.fileno(): (sock, nid) for sock, nid in responder.listeners.values()}
        ready, _, _ = select.select([wake_fd, responder.upstream.fileno(), *by_fd], [], [], 1.0)
        for fd in ready:
            if fd == wake_fd:
                os.read(wake_fd, 512)
                responder.reload()
            elif fd == responder.upstream.fileno():
                responder.on_upstream()
            elif fd in by_fd:
                responder.on_query(*by_fd[fd])
        responder.expire()
        if len(responder.listeners) < len(responder.table.networks):
            responder.bind_missing()


def main(argv: Optional[List[str]] = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    ready_fd = -1
    if args and args[0].startswith("--ready-fd="):
        ready_fd = int(args.pop(0).partition("=")[2])
    netns_file, table_file, upstreams = args[0], args[1], [parse_upstream(u) for u in args[2:]]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s dns: %(message)s")
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # in the host's netns: see above
    upstream.bind(("0.0.0.0", 0))
    with open(netns_file, "rb") as ns:
        linux.setns(ns.fileno(), linux.CLONE_NEWNET)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGHUP, lambda *_: None)  # the wakeup fd does the work
    serve(Responder(table_file, upstreams, upstream), wake_r, ready_fd)


if __name__ == "__main__":
    main()
