"""Names on user networks: the table the DNS responder answers from, and the answers.

The daemon owns a NameTable and saves it to one JSON file in the shared
namespace's state dir; the responder (dns_server.py, a process of its own so
it outlives a daemon restart, like aardvark-dns) reloads the file on SIGHUP.
The wire format is dnslib's: no hand-written DNS parser.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import dnslib  # type: ignore[import-untyped]

from rootless.util import fs

# Containers come and go and change addresses; resolvers must ask again soon.
TTL = 5
FORMAT = 1


def normal_name(name: str) -> str:
    """DNS names compare case-insensitively and with or without the root dot."""
    return name.rstrip(".").lower()


@dataclass
class NetworkNames:
    """One network's responder: where it listens and what it knows."""

    gateway: str
    internal: bool = False
    # container address -> its names (container name, aliases, short id)
    names: Dict[str, List[str]] = field(default_factory=dict)

    def lookup(self, name: str) -> List[str]:
        """Addresses answering to name, in a stable order."""
        wanted = normal_name(name)
        return sorted(ip for ip, names in self.names.items() if wanted in (normal_name(n) for n in names))

    def to_json(self) -> Dict[str, object]:
        return {"gateway": self.gateway, "internal": self.internal, "names": self.names}

    @classmethod
    def from_json(cls, data: Dict[str, object]) -> "NetworkNames":
        names = data.get("names") or {}
        assert isinstance(names, dict)
        return cls(str(data["gateway"]), bool(data.get("internal")),
                   {str(ip): [str(n) for n in ns] for ip, ns in names.items()})


class NameTable:
    """network id -> NetworkNames, persisted atomically to path on save()."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.networks: Dict[str, NetworkNames] = {}

    @classmethod
    def load(cls, path: str) -> "NameTable":
        """The saved table, or an empty one when there is none yet."""
        table = cls(path)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return table
        for network_id, entry in (data.get("networks") or {}).items():
            table.networks[network_id] = NetworkNames.from_json(entry)
        return table

    def save(self) -> None:
        doc = {"format": FORMAT, "networks": {k: v.to_json() for k, v in sorted(self.networks.items())}}
        # No fsync: it lives in the runtime dir beside the namespace it describes, and every
        # start and stop rewrites it (a tmpfs by default, which a reboot empties with the namespace).
        fs.atomic_write_json(self.path, doc, mode=0o600, durable=False)

    def set_network(self, network_id: str, gateway: str, internal: bool) -> None:
        """Add a network (keeping its names if it is known already)."""
        old = self.networks.get(network_id)
        self.networks[network_id] = NetworkNames(gateway, internal, dict(old.names) if old else {})

    def drop_network(self, network_id: str) -> None:
        self.networks.pop(network_id, None)

    def add(self, network_id: str, address: str, names: List[str]) -> bool:
        """Names for an address on a network (replacing what that address had); whether that changed
        the table. No names is no entry: an address without names answers nothing."""
        entry = self.networks[network_id]
        wanted = [n for n in dict.fromkeys(names) if n]
        if not wanted:
            return entry.names.pop(address, None) is not None
        changed = entry.names.get(address) != wanted
        entry.names[address] = wanted
        return changed

    def remove(self, network_id: str, address: str) -> bool:
        """Forget the address's names; whether it had an entry."""
        entry = self.networks.get(network_id)
        return entry is not None and entry.names.pop(address, None) is not None


def is_local_question(entry: NetworkNames, request: "dnslib.DNSRecord") -> bool:
    """Whether the responder answers this itself: a name on its network."""
    return bool(request.questions) and bool(entry.lookup(str(request.q.qname)))


def answer_local(entry: NetworkNames, request: "dnslib.DNSRecord") -> bytes:
    """A for a container's addresses; other types (AAAA: we are IPv4 only) empty, as aardvark does."""
    reply = request.reply()
    qname = request.q.qname
    if request.q.qtype in (dnslib.QTYPE.A, dnslib.QTYPE.ANY):
        for address in entry.lookup(str(qname)):
            reply.add_answer(dnslib.RR(qname, dnslib.QTYPE.A, rdata=dnslib.A(address), ttl=TTL))
    packed: bytes = reply.pack()
    return packed


def answer_error(request: "dnslib.DNSRecord", rcode: int) -> bytes:
    reply = request.reply()
    reply.header.rcode = rcode
    packed: bytes = reply.pack()
    return packed


def parse_query(data: bytes) -> Optional["dnslib.DNSRecord"]:
    """A query we can answer, or None for garbage (dropped, as a resolver would)."""
    try:
        request = dnslib.DNSRecord.parse(data)
    except (dnslib.DNSError, ValueError, IndexError, KeyError):
        return None
    if request.header.qr or not request.questions:
        return None
    return request


def read_resolvers(text: str) -> List[str]:
    """nameserver lines of a resolv.conf, as ip:53 (the responder forwards from the host's netns)."""
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and ":" not in parts[1]:
            found.append(f"{parts[1]}:53")
    return found


def host_resolvers(path: str = "/etc/resolv.conf") -> List[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return read_resolvers(f.read())
    except OSError:
        return []


def table_path(state_dir: str) -> str:
    return os.path.join(state_dir, "names.json")
