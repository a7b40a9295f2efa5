"""Published ports over IPv4 and IPv6: which host addresses one -p binds, as dockerd 28 binds them."""
from __future__ import annotations

import errno
from typing import Any, List

import pytest

from rootless.errors import Conflict, InvalidArgument
from rootless.runtime.network import port_forwarder
from rootless.runtime.network.slirp import PortMapping


def _addresses(mapping: PortMapping, ipv6: bool) -> List[str]:
    return [m.host_ip for m in port_forwarder.binding_plan(mapping, ipv6)]


def test_no_host_address_binds_both_families_on_the_same_port() -> None:
    plan = port_forwarder.binding_plan(PortMapping("tcp", 80, 8080), ipv6=True)
    assert plan == [PortMapping("tcp", 80, 8080, "0.0.0.0"), PortMapping("tcp", 80, 8080, "::")]


def test_no_host_address_without_ipv6_on_the_host_is_v4_alone() -> None:
    assert _addresses(PortMapping("udp", 53, 0), ipv6=False) == ["0.0.0.0"]


@pytest.mark.parametrize("host_ip", ["0.0.0.0", "127.0.0.1", "::", "::1", "fd00::5"])
@pytest.mark.parametrize("ipv6", [True, False])
def test_an_explicit_address_binds_that_family_only(host_ip: str, ipv6: bool) -> None:
    # an explicit v6 address is tried even without IPv6 (docker too): its bind error is the answer
    assert _addresses(PortMapping("tcp", 80, 8080, host_ip), ipv6) == [host_ip]


def test_ephemeral_port_stays_ephemeral_in_every_binding() -> None:
    assert [m.host_port for m in port_forwarder.binding_plan(PortMapping("tcp", 80, 0), True)] == [0, 0]


@pytest.mark.parametrize("content, expected", [("0\n", True), ("1\n", False)])
def test_host_ipv6_follows_disable_ipv6(tmp_path: Any, content: str, expected: bool) -> None:
    flag = tmp_path / "disable_ipv6"
    flag.write_text(content)
    assert port_forwarder.host_has_ipv6(str(flag)) is expected


def test_host_without_ipv6_sysctl_has_no_ipv6(tmp_path: Any) -> None:  # booted with ipv6.disable=1
    assert port_forwarder.host_has_ipv6(str(tmp_path / "missing")) is False


@pytest.mark.parametrize("host_ip, shown", [("0.0.0.0", "tcp4 0.0.0.0:8080"), ("::", "tcp6 [::]:8080"),
                                            ("::1", "tcp6 [::1]:8080"), ("127.0.0.1", "tcp4 127.0.0.1:8080")])
def test_taken_port_is_dockers_words_in_both_families(host_ip: str, shown: str) -> None:
    error = port_forwarder._bind_error(PortMapping("tcp", 80, 8080, host_ip), OSError(errno.EADDRINUSE, "in use"))
    assert isinstance(error, Conflict)
    assert f"listen {shown}: bind: address already in use" in str(error)


def test_other_bind_failures_name_the_address() -> None:
    error = port_forwarder._bind_error(PortMapping("tcp", 80, 8080, "::1"),
                                       OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"))
    assert isinstance(error, InvalidArgument)
    assert "8080/tcp on ::1: bind: Cannot assign requested address" in str(error)
