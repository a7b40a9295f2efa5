"""`rootless network create|connect` send the bodies docker's CLI sends (issue 16)."""
from __future__ import annotations

import click
import pytest

from rootless.cli.network.connect import endpoint_body
from rootless.cli.network.create import ipam_configs, network_body


def test_subnets_and_gateways_pair_by_family() -> None:
    assert ipam_configs(["10.1.0.0/24", "2001:db8::/64"], ["2001:db8::1", "10.1.0.254"]) == [
        {"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.254"}, {"Subnet": "2001:db8::/64", "Gateway": "2001:db8::1"}]
    assert ipam_configs([], []) == []
    with pytest.raises(click.UsageError, match="needs a --subnet"):
        ipam_configs([], ["10.1.0.1"])
    with pytest.raises(click.UsageError, match="no matching subnet"):
        ipam_configs(["10.1.0.0/24"], ["2001:db8::1"])


def test_network_body_has_enable_ipv6_and_both_configs() -> None:
    body = network_body("v6 net", "bridge", ["2001:db8::/64"], [], False, False, True, (), ())
    assert body["Name"] == "v6 net" and body["EnableIPv6"] is True
    assert body["IPAM"]["Config"] == [{"Subnet": "2001:db8::/64"}]


def test_endpoint_body() -> None:
    assert endpoint_body((), None, None, (), (), None) == {"Aliases": None, "Links": None, "DriverOpts": None}
    body = endpoint_body(("db",), "10.1.0.5", "2001:db8::5", ("web:w",), ("k=v",), "02:42:ac:11:00:02")
    assert body == {"Aliases": ["db"], "Links": ["web:w"], "DriverOpts": {"k": "v"},
                    "IPAMConfig": {"IPv4Address": "10.1.0.5", "IPv6Address": "2001:db8::5"},
                    "MacAddress": "02:42:ac:11:00:02"}


def test_ip_range_pairs_with_the_subnet_that_holds_it() -> None:
    assert ipam_configs(["2001:db8::/64", "10.1.0.0/16"], [], ["10.1.2.0/24"]) == [
        {"Subnet": "2001:db8::/64"}, {"Subnet": "10.1.0.0/16", "IPRange": "10.1.2.0/24"}]
    with pytest.raises(click.UsageError, match="no matching subnet for range 10.2.0.0/24"):
        ipam_configs(["10.1.0.0/16"], [], ["10.2.0.0/24"])
