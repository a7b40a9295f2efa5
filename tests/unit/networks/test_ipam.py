from __future__ import annotations

import ipaddress

import pytest

from rootless.errors import FailedPrecondition, InvalidArgument
from rootless.networks import ipam


def test_parse_subnet() -> None:
    assert str(ipam.parse_subnet("10.1.2.0/24")) == "10.1.2.0/24"
    for bad in ("10.1.2.3/24", "fd00::/64", "nonsense", "10.0.0.1/31"):
        with pytest.raises(InvalidArgument, match="invalid subnet"):
            ipam.parse_subnet(bad)


def test_host_address_must_be_inside_and_not_network_or_broadcast() -> None:
    subnet = ipaddress.IPv4Network("10.9.0.0/24")
    assert ipam.parse_host_address(subnet, "10.9.0.7", "gateway") == "10.9.0.7"
    for bad in ("10.9.1.7", "10.9.0.0", "10.9.0.255", "x"):
        with pytest.raises(InvalidArgument, match="invalid gateway"):
            ipam.parse_host_address(subnet, bad, "gateway")


def test_allocate_subnet_skips_overlaps() -> None:
    taken = [ipaddress.IPv4Network("10.89.0.0/24"), ipaddress.IPv4Network("10.89.1.0/25")]
    assert str(ipam.allocate_subnet(taken)) == "10.89.2.0/24"
    assert str(ipam.allocate_subnet([])) == "10.89.0.0/24"
    with pytest.raises(FailedPrecondition, match="no free /24"):
        ipam.allocate_subnet([ipaddress.IPv4Network("10.89.0.0/16")])


def test_allocate_address_and_gateway() -> None:
    subnet = ipaddress.IPv4Network("10.89.3.0/30")
    assert ipam.default_gateway(subnet) == "10.89.3.1"
    assert ipam.allocate_address(subnet, {"10.89.3.1"}) == "10.89.3.2"
    with pytest.raises(FailedPrecondition, match="no free address"):
        ipam.allocate_address(subnet, {"10.89.3.1", "10.89.3.2"})


def test_mac_for() -> None:
    assert ipam.mac_for("10.89.0.2") == "02:42:0a:59:00:02"
    assert ipam.mac_for("") == ""


# -- IPv6 (issue 16) ------------------------------------------------------------------
def test_parse_subnet6_is_strict_and_ipv6_only() -> None:
    assert str(ipam.parse_subnet6("2001:db8::/64")) == "2001:db8::/64"
    for bad in ("2001:db8::1/64", "10.1.2.0/24", "nonsense", "2001:db8::/127"):
        with pytest.raises(InvalidArgument, match="invalid subnet"):
            ipam.parse_subnet6(bad)


def test_ipv6_host_addresses_and_gateway() -> None:
    subnet = ipaddress.IPv6Network("2001:db8::/64")
    assert ipam.default_gateway(subnet) == "2001:db8::1"
    assert ipam.parse_host_address(subnet, "2001:db8::ffff:ffff:ffff:ffff", "address") \
        == "2001:db8::ffff:ffff:ffff:ffff"  # no broadcast in IPv6: the last address is a host
    for bad in ("2001:db8::", "2001:db9::5", "10.0.0.1", "zz::1"):
        with pytest.raises(InvalidArgument, match="invalid address"):
            ipam.parse_host_address(subnet, bad, "address")
    with pytest.raises(InvalidArgument, match="not an IPv4 address"):
        ipam.parse_host_address(ipaddress.IPv4Network("10.0.0.0/24"), "2001:db8::5", "address")


def test_allocate_ipv6_address_is_lowest_free_without_walking_the_subnet() -> None:
    subnet = ipaddress.IPv6Network("2001:db8::/64")
    assert ipam.allocate_address(subnet, {"2001:db8::1"}) == "2001:db8::2"
    assert ipam.allocate_address(subnet, {"2001:db8::1", "2001:db8::2", "2001:db8::4"}) == "2001:db8::3"
    tiny = ipaddress.IPv6Network("2001:db8::/126")
    with pytest.raises(FailedPrecondition, match="no free address"):
        ipam.allocate_address(tiny, {"2001:db8::1", "2001:db8::2", "2001:db8::3"})


def test_allocate_subnet6_from_the_ula_pool() -> None:
    assert str(ipam.allocate_subnet6([])) == "fd89:89::/64"
    assert str(ipam.allocate_subnet6([ipaddress.IPv6Network("fd89:89::/64")])) == "fd89:89:0:1::/64"
    with pytest.raises(FailedPrecondition, match="no free /64"):
        ipam.allocate_subnet6([ipaddress.IPv6Network("fd89:89::/48")])


def test_parse_mac() -> None:
    assert ipam.parse_mac("02:42:AC:11:00:02") == "02:42:ac:11:00:02"
    assert ipam.parse_mac("02-42-ac-11-00-03") == "02:42:ac:11:00:03"
    for bad in ("02:42:ac:11:00", "zz:42:ac:11:00:02", "0242ac110002", "02:42:ac:11:00:02:03"):
        with pytest.raises(InvalidArgument, match="invalid MAC address"):
            ipam.parse_mac(bad)
    with pytest.raises(InvalidArgument, match="multicast"):
        ipam.parse_mac("01:00:5e:00:00:01")


def test_ip_range_must_lie_inside_the_subnet() -> None:
    subnet = ipaddress.IPv4Network("10.9.0.0/16")
    assert str(ipam.parse_ip_range(subnet, "10.9.5.0/24")) == "10.9.5.0/24"
    assert str(ipam.parse_ip_range(subnet, "10.9.0.0/16")) == "10.9.0.0/16"
    for bad in ("10.8.0.0/24", "10.0.0.0/8", "fd00::/64"):
        with pytest.raises(InvalidArgument, match=f"invalid ip-range {bad}: it must be a subset of subnet 10.9.0.0/16"):
            ipam.parse_ip_range(subnet, bad)
    with pytest.raises(InvalidArgument, match="invalid ip-range 10.9.5.1/24"):
        ipam.parse_ip_range(subnet, "10.9.5.1/24")


def test_dynamic_addresses_come_from_the_range_only() -> None:
    subnet = ipaddress.IPv4Network("10.9.0.0/24")
    ip_range = ipaddress.IPv4Network("10.9.0.128/30")
    taken = {"10.9.0.1"}
    got = []
    for _ in range(4):
        got.append(ipam.allocate_address(subnet, taken | set(got), ip_range))
    assert got == ["10.9.0.128", "10.9.0.129", "10.9.0.130", "10.9.0.131"]
    with pytest.raises(FailedPrecondition, match="10.9.0.0/24 range 10.9.0.128/30: no free address"):
        ipam.allocate_address(subnet, taken | set(got), ip_range)


def test_range_at_the_subnet_edges_skips_network_and_broadcast() -> None:
    subnet = ipaddress.IPv4Network("10.9.0.0/24")
    assert ipam.allocate_address(subnet, {"10.9.0.1"}, ipaddress.IPv4Network("10.9.0.0/30")) == "10.9.0.2"
    with pytest.raises(FailedPrecondition):
        ipam.allocate_address(subnet, set(), ipaddress.IPv4Network("10.9.0.255/32"))
