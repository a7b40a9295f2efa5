"""Address bookkeeping for networks: subnets from a pool, addresses in a subnet.

Podman's default pool for new networks is 10.89.0.0/16 cut into /24s
(containers.conf default_subnet_pools); we use the same, so a user moving
between the two sees the same addresses.
"""
from __future__ import annotations

import ipaddress
from typing import Collection, Iterable, Optional

from rootless.errors import FailedPrecondition, InvalidArgument

DEFAULT_POOL = "10.89.0.0/16"
DEFAULT_PREFIX = 24


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    """A strict IPv4 CIDR ("10.89.3.0/24"); host bits set or IPv6 are refused."""
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise InvalidArgument(f"invalid subnet: {text}: {exc}") from None
    if not isinstance(network, ipaddress.IPv4Network):
        raise InvalidArgument(f"invalid subnet: {text}: only IPv4 subnets are supported")
    if network.num_addresses < 4:
        raise InvalidArgument(f"invalid subnet: {text}: too small for a gateway and a container")
    return network


def parse_host_address(subnet: ipaddress.IPv4Network, text: str, what: str) -> str:
    """An address that lies in subnet and is neither its network nor broadcast address."""
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text}: not an IPv4 address") from None
    if address not in subnet or address in (subnet.network_address, subnet.broadcast_address):
        raise InvalidArgument(f"invalid {what}: {text}: not a host address in {subnet}")
    return str(address)


def default_gateway(subnet: ipaddress.IPv4Network) -> str:
    """The first host address, as docker and podman choose it."""
    return str(subnet.network_address + 1)


def allocate_subnet(
    taken: Iterable[ipaddress.IPv4Network], pool: str = DEFAULT_POOL, prefix: int = DEFAULT_PREFIX
) -> ipaddress.IPv4Network:
    """The first /prefix of pool that overlaps no taken subnet."""
    taken = list(taken)
    for candidate in ipaddress.IPv4Network(pool).subnets(new_prefix=prefix):
        if not any(candidate.overlaps(other) for other in taken):
            return candidate
    raise FailedPrecondition(f"allocate subnet: {pool}: no free /{prefix} left",
                             hint="remove unused networks (rootless network prune) or give --subnet")


def allocate_address(subnet: ipaddress.IPv4Network, taken: Collection[str]) -> str:
    """The lowest free host address (taken holds the gateway and endpoints)."""
    for address in subnet.hosts():
        if str(address) not in taken:
            return str(address)
    raise FailedPrecondition(f"allocate address: {subnet}: no free address left")


def mac_for(address: Optional[str]) -> str:
    """docker's scheme: 02:42 followed by the IPv4 address bytes."""
    if not address:
        return ""
    octets = ipaddress.IPv4Address(address).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in octets)
