from __future__ import annotations

import pytest

from rootless.errors import InvalidArgument
from rootless.runtime.network import plumbing, slirp
from rootless.runtime.network.rootless_netns import has_udp_listener
from rootless.runtime.network.slirp import PortMapping

NET = "0123456789abcdef" * 4


def test_interface_names_fit_ifnamsiz_and_are_stable():
    assert plumbing.bridge_name(NET) == "rlb0123456789ab"
    veth = plumbing.veth_name(NET, "c" * 64)
    assert len(veth) == 15 and veth.startswith("rlv") and veth == plumbing.veth_name(NET, "c" * 64)
    assert veth != plumbing.veth_name(NET, "d" * 64)


def test_check_interface():
    assert plumbing.check_interface("eth1") == "eth1"
    for bad in ("", "eth0 up", "x" * 16, "a/b"):
        with pytest.raises(InvalidArgument):
            plumbing.check_interface(bad)


def test_bridge_batch():
    assert plumbing.bridge_batch(NET, "10.89.3.0/24", "10.89.3.1") == (
        "link add rlb0123456789ab address 02:52:0a:59:03:01 type bridge\n"
        "addr add 10.89.3.1/24 dev rlb0123456789ab\n"
        "link set rlb0123456789ab up\n")


def test_internal_bridges_are_not_uplinked():
    assert plumbing.bridge_elements(NET, internal=False) == (
        'add element inet rootless same { "rlb0123456789ab" . "rlb0123456789ab" }\n'
        'add element inet rootless uplinked { "rlb0123456789ab" }\n')
    assert "uplinked" not in plumbing.bridge_elements(NET, internal=True)
    assert plumbing.bridge_elements(NET, internal=True, add=False).startswith("delete element")


def test_ruleset_drops_forwarding_by_default_and_guards_host_loopback():
    rules = plumbing.base_ruleset(host_loopback="192.0.2.1")
    assert "type filter hook forward priority 0; policy drop;" in rules
    assert "ip daddr 192.0.2.1 ip saddr != @loopback_ok drop" in rules
    assert 'oifname "tap0" masquerade' in rules
    # except the port forwarder's diverted replies (port_forwarder.py)
    assert 'iifname "rlb*" meta mark != 0x00005250 fib daddr . iif type != local drop' in rules
    assert plumbing.loopback_element("10.89.3.2") == "add element inet rootless loopback_ok { 10.89.3.2 }\n"


def test_uplink_argv_has_no_exit_fd_and_joins_by_path():
    argv = plumbing.uplink_slirp_argv("/run/x/netns", "/run/x/slirp.sock", slirp.Features(api_socket=True))
    assert argv == ["slirp4netns", "--configure", "--mtu=65520", "--api-socket", "/run/x/slirp.sock",
                    "--netns-type=path", "/run/x/netns", "tap0"]
    pasta = plumbing.uplink_pasta_argv("/run/x/netns", "/run/x/pasta.pid")
    assert pasta[-2:] == ["--netns", "/run/x/netns"] and "-I" in pasta and "--no-map-gw" not in pasta


def test_hostfwd_to_a_container_address():
    request = slirp.hostfwd_request(PortMapping("tcp", 80, 8080, "127.0.0.1"), guest_addr="10.89.3.2")
    assert request["arguments"]["guest_addr"] == "10.89.3.2"
    assert "guest_addr" not in slirp.hostfwd_request(PortMapping("tcp", 80, 8080))["arguments"]


def test_udp_listener_from_proc_net_udp():
    table = ("   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
             "  1: 01C8590A:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0\n")
    assert has_udp_listener(table, "10.89.200.1", 53)
    assert not has_udp_listener(table, "10.89.201.1", 53)
    assert not has_udp_listener(table, "10.89.200.1", 5353)


def test_ipv6_bridge_and_container_addresses_without_dad_or_v6_route():
    assert plumbing.bridge_batch(NET, "10.89.3.0/24", "10.89.3.1", "2001:db8::/64", "2001:db8::1").splitlines() == [
        "link add rlb0123456789ab address 02:52:0a:59:03:01 type bridge",
        "addr add 10.89.3.1/24 dev rlb0123456789ab",
        "addr add 2001:db8::1/64 dev rlb0123456789ab nodad",
        "link set rlb0123456789ab up"]


class _Recorder:
    """Stands for rtnl.Rtnl: the requests, as the ip(8) commands they replace."""

    calls: list = []  # type: ignore[type-arg]

    def __enter__(self) -> "_Recorder":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def set_link(self, name, up=False, master=None, mac=""):  # type: ignore[no-untyped-def]
        self.calls.append(f"link set {name}" + (f" address {mac}" if mac else "") + (f" master {master}" if master
                                                                                       else "") + (" up" if up else ""))

    def add_address(self, name, address, prefixlen, nodad=False):  # type: ignore[no-untyped-def]
        self.calls.append(f"addr add {address}/{prefixlen} dev {name}" + (" nodad" if nodad else ""))

    def add_default_route(self, gateway, name):  # type: ignore[no-untyped-def]
        self.calls.append(f"route add default via {gateway} dev {name}")


def test_the_container_end_gets_mac_addresses_up_and_a_route_only_when_asked(monkeypatch):
    from rootless.runtime.network import rtnl

    monkeypatch.setattr(rtnl, "Rtnl", _Recorder)
    _Recorder.calls = []
    rtnl.configure_container_end("eth0", "10.89.3.2", 24, "02:42:0a:59:03:02", "10.89.3.1", True, "2001:db8::2/64")
    assert _Recorder.calls == ["link set eth0 address 02:42:0a:59:03:02", "addr add 10.89.3.2/24 dev eth0",
                               "addr add 2001:db8::2/64 dev eth0 nodad", "link set eth0 up", "link set lo up",
                               "route add default via 10.89.3.1 dev eth0"]
    _Recorder.calls = []
    rtnl.configure_container_end("eth1", "10.89.4.2", 24, "", "10.89.4.1", False)
    assert _Recorder.calls == ["addr add 10.89.4.2/24 dev eth1", "link set eth1 up", "link set lo up"]


def test_netlink_attributes_are_padded_and_replies_split():
    import struct

    from rootless.runtime.network import rtnl

    assert rtnl._attr(3, b"eth0\0") == struct.pack("=HH", 9, 3) + b"eth0\0" + b"\0\0\0"
    ack = struct.pack("=IHHII", 36, rtnl.NLMSG_ERROR, 0, 7, 0) + struct.pack("=i", 0) + b"\0" * 16
    refused = struct.pack("=IHHII", 36, rtnl.NLMSG_ERROR, 0, 8, 0) + struct.pack("=i", -17) + b"\0" * 16
    assert [(kind, seq, payload[:4]) for kind, seq, payload in rtnl._messages(ack + refused)] == [
        (rtnl.NLMSG_ERROR, 7, b"\0\0\0\0"), (rtnl.NLMSG_ERROR, 8, struct.pack("=i", -17))]
