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
