"""The default `bridge` network's subnet: docker's 172.17.0.0/16 unless the host routes it.

dockerd picks docker0's subnet from its default address pools, skipping any
that overlaps a route of the host (libnetwork/netutils.FindAvailableNetwork):
a container address shadowing a host route would make that part of the host's
network unreachable from containers. We do the same, once, when the record is
written; the subnet is kept in the record from then on (networks/store.py).
"""
from __future__ import annotations

import ipaddress
from typing import Iterable, Iterator, List

from rootless.errors import FailedPrecondition

ROUTE_TABLE = "/proc/net/route"
# A bridge record written before the default network had a subnet of its own:
# none, or slirp4netns's fixed 10.0.2.0/24 that every container saw.
LEGACY_SUBNETS = ("", "10.0.2.0/24")
# slirp4netns's network in the engine's shared namespace (its uplink): never a bridge's.
UPLINK_SUBNET = ipaddress.IPv4Network("10.0.2.0/24")


def candidates() -> Iterator[ipaddress.IPv4Network]:
    """docker's default pools in its order: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s."""
    for second in range(17, 32):
        yield ipaddress.IPv4Network(f"172.{second}.0.0/16")
    yield from ipaddress.IPv4Network("192.168.0.0/16").subnets(new_prefix=20)


def parse_routes(text: str) -> List[ipaddress.IPv4Network]:
    """The destinations of /proc/net/route (hex, little-endian), the default route left out."""
    routes = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            destination = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
            mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
            network = ipaddress.IPv4Network(f"{destination}/{mask}", strict=False)
        except ValueError:
            continue
        if network.prefixlen:
            routes.append(network)
    return routes


def read_host_routes(path: str = ROUTE_TABLE) -> List[ipaddress.IPv4Network]:
    """The host's IPv4 routes (the daemon shares the host's network namespace); none if unreadable."""
    try:
        with open(path, encoding="ascii") as f:
            return parse_routes(f.read())
    except OSError:
        return []


def choose_subnet(taken: Iterable[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """The first candidate that overlaps nothing taken (host routes, user networks, the uplink)."""
    taken = [*taken, UPLINK_SUBNET]
    for candidate in candidates():
        if not any(candidate.overlaps(other) for other in taken):
            return candidate
    raise FailedPrecondition("choose the default bridge's subnet: every candidate overlaps a host route "
                             "or a network", hint="remove unused networks (rootless network prune)")


def is_legacy(subnet: str) -> bool:
    """Whether a bridge record still has the subnet of the per-container slirp4netns days."""
    return subnet in LEGACY_SUBNETS
