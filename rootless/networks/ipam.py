"""Address bookkeeping for networks: subnets from a pool, addresses in a subnet.

Podman's default pool for new networks is 10.89.0.0/16 cut into /24s
(containers.conf default_subnet_pools); we use the same, so a user moving
between the two sees the same addresses. An IPv6 network (--ipv6) without a
subnet gets a /64 of the unique-local fd89:89::/48 (RFC 4193: private, like
10.89/16), dockerd's ULA choice minus its random global id.
"""
from __future__ import annotations

import ipaddress
from typing import Collection, Iterable, Optional, Union

from rootless.errors import FailedPrecondition, InvalidArgument

DEFAULT_POOL = "10.89.0.0/16"
DEFAULT_PREFIX = 24
DEFAULT_POOL6 = "fd89:89::/48"
DEFAULT_PREFIX6 = 64
AnyNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


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


def parse_subnet6(text: str) -> ipaddress.IPv6Network:
    """A strict IPv6 CIDR ("2001:db8::/64"): host bits set or IPv4 are refused."""
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise InvalidArgument(f"invalid subnet: {text}: {exc}") from None
    if not isinstance(network, ipaddress.IPv6Network):
        raise InvalidArgument(f"invalid subnet: {text}: not an IPv6 subnet")
    if network.prefixlen > 126:
        raise InvalidArgument(f"invalid subnet: {text}: too small for a gateway and a container")
    return network


def is_ipv6(text: str) -> bool:
    """Whether a subnet or address is written as IPv6 (has a colon); checked when parsed."""
    return ":" in text


def parse_host_address(subnet: AnyNetwork, text: str, what: str) -> str:
    """An address that lies in subnet and is neither its network nor (IPv4) broadcast address."""
    family = "IPv6" if subnet.version == 6 else "IPv4"
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text}: not an {family} address") from None
    if address.version != subnet.version:
        raise InvalidArgument(f"invalid {what}: {text}: not an {family} address")
    reserved = (subnet.network_address,) if subnet.version == 6 else (subnet.network_address,
                                                                          subnet.broadcast_address)
    if address not in subnet or address in reserved:
        raise InvalidArgument(f"invalid {what}: {text}: not a host address in {subnet}")
    return str(address)


def parse_ip_range(subnet: AnyNetwork, text: str) -> AnyNetwork:
    """An --ip-range: a CIDR inside subnet (dockerd's check and wording, api/types/network/ipam.go)."""
    try:
        wanted = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise InvalidArgument(f"invalid ip-range {text}: {exc}") from None
    if wanted.network_address not in subnet or wanted.prefixlen < subnet.prefixlen:
        raise InvalidArgument(f"invalid ip-range {text}: it must be a subset of subnet {subnet}")
    return wanted


def default_gateway(subnet: AnyNetwork) -> str:
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


def allocate_subnet6(taken: Iterable[ipaddress.IPv6Network]) -> ipaddress.IPv6Network:
    """The first /64 of the ULA pool that overlaps no taken IPv6 subnet."""
    taken = list(taken)
    for candidate in ipaddress.IPv6Network(DEFAULT_POOL6).subnets(new_prefix=DEFAULT_PREFIX6):
        if not any(candidate.overlaps(other) for other in taken):
            return candidate
    raise FailedPrecondition(f"allocate subnet: {DEFAULT_POOL6}: no free /{DEFAULT_PREFIX6} left",
                             hint="remove unused networks (rootless network prune) or give an IPv6 --subnet")


def allocate_address(subnet: AnyNetwork, taken: Collection[str], ip_range: Optional[AnyNetwork] = None) -> str:
    """The lowest free host address (taken holds the gateway and endpoints), from
    ip_range when the network has one (dockerd: dynamic addresses come from the range only).

    hosts() and iteration are lazy, so a /64 costs one step per address taken, not 2**64.
    """
    reserved = {subnet.network_address} if subnet.version == 6 else {subnet.network_address,
                                                                       subnet.broadcast_address}
    candidates = subnet.hosts() if ip_range is None else (a for a in ip_range if a not in reserved)
    for address in candidates:
        if str(address) not in taken:
            return str(address)
    where = subnet if ip_range is None else f"{subnet} range {ip_range}"
    raise FailedPrecondition(f"allocate address: {where}: no free address left")


def parse_mac(text: str) -> str:
    """A unicast Ethernet address (docker's --mac-address), lower-case with colons."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts):
        raise InvalidArgument(f"invalid MAC address: {text}", hint="write it as six hex pairs: 02:42:ac:11:00:02")
    if int(parts[0], 16) & 1:
        raise InvalidArgument(f"invalid MAC address: {text}: a multicast address can't name an interface")
    return ":".join(p.lower() for p in parts)


def mac_for(address: Optional[str]) -> str:
    """docker's scheme: 02:42 followed by the IPv4 address bytes."""
    if not address:
        return ""
    octets = ipaddress.IPv4Address(address).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in octets)
