"""The few rtnetlink requests a container's veth needs, sent from this process (no ip(8) exec).

A netlink socket belongs to the network namespace of the thread that opened
it, so callers open one inside rootless_netns.in_netns. Each request asks
for an acknowledgement and a refusal raises ToolError naming the request, as
a failed `ip` did. This replaced two `ip -batch` processes per container
start (~3 ms each here, much more on a loaded machine): the ip(8) command
each request stands for is in its docstring.
"""
from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from typing import List, Optional, Tuple

from rootless.errors import ToolError

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 20, 24
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLMSG_ERROR = 2
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
IFA_F_NODAD = 0x02
RTA_OIF, RTA_GATEWAY = 4, 5
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1
IFF_UP = 0x1

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _ifinfo(index: int = 0, up: bool = False) -> bytes:
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP if up else 0)


class Rtnl:
    """One rtnetlink socket, in the namespace of the thread that made it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self._seq = 0

    def __enter__(self) -> "Rtnl":
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def request(self, what: str, kind: int, body: bytes, flags: int = 0) -> None:
        """Send one request and wait for its acknowledgement; ToolError on a refusal."""
        error = self._acknowledged(kind, body, flags)
        if error:
            raise ToolError("netlink", f"{what}: {os.strerror(error)}")

    def _acknowledged(self, kind: int, body: bytes, flags: int = 0) -> int:
        """Send one request; the errno of its acknowledgement (0: done)."""
        self._seq += 1
        self.sock.send(_HEADER.pack(_HEADER.size + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags,
                                    self._seq, 0) + body)
        while True:
            data = self.sock.recv(65536)
            for msg_type, seq, payload in _messages(data):
                if msg_type == NLMSG_ERROR and seq == self._seq:
                    return -int(struct.unpack_from("=i", payload)[0])

    # -- the requests ---------------------------------------------------------------
    def add_veth(self, name: str, peer: str, peer_netns_fd: int) -> None:
        """A veth pair: name here, peer in the namespace of peer_netns_fd (ip link add ... peer ... netns)."""
        peer_info = _ifinfo() + _attr(IFLA_IFNAME, peer.encode() + b"\0") + _attr(
            IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd))
        info = _attr(IFLA_INFO_KIND, b"veth\0") + _attr(
            IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer_info))
        body = _ifinfo() + _attr(IFLA_IFNAME, name.encode() + b"\0") + _attr(IFLA_LINKINFO, info)
        self.request(f"add veth {name}", RTM_NEWLINK, body, NLM_F_CREATE | NLM_F_EXCL)

    def delete_link(self, name: str) -> bool:
        """ip link del NAME; False when there is none (the kernel deletes a veth pair itself
        when the namespace of its other end goes)."""
        error = self._acknowledged(RTM_DELLINK, _ifinfo() + _attr(IFLA_IFNAME, name.encode() + b"\0"))
        if error == errno.ENODEV:
            return False
        if error:
            raise ToolError("netlink", f"delete link {name}: {os.strerror(error)}")
        return True

    def set_link(self, name: str, up: bool = False, master: Optional[str] = None, mac: str = "") -> None:
        """ip link set NAME [address MAC] [master BRIDGE] [up]."""
        attrs = b""
        if mac:
            attrs += _attr(IFLA_ADDRESS, bytes(int(part, 16) for part in mac.split(":")))
        if master:
            attrs += _attr(IFLA_MASTER, struct.pack("=I", _index(master)))
        self.request(f"set link {name}", RTM_NEWLINK, _ifinfo(_index(name), up) + attrs)

    def add_address(self, name: str, address: str, prefixlen: int, nodad: bool = False) -> None:
        """ip addr add ADDRESS/PREFIXLEN dev NAME [nodad]."""
        ip = ipaddress.ip_address(address)
        family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
        body = struct.pack("=BBBBI", family, prefixlen, IFA_F_NODAD if nodad else 0, RT_SCOPE_UNIVERSE,
                           _index(name))
        body += _attr(IFA_LOCAL, ip.packed) + _attr(IFA_ADDRESS, ip.packed)
        self.request(f"add address {address}/{prefixlen} to {name}", RTM_NEWADDR, body, NLM_F_CREATE | NLM_F_EXCL)

    def add_default_route(self, gateway: str, name: str) -> None:
        """ip route add default via GATEWAY dev NAME (IPv4)."""
        body = struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE,
                           RTN_UNICAST, 0)
        body += _attr(RTA_GATEWAY, ipaddress.IPv4Address(gateway).packed) + _attr(RTA_OIF, struct.pack(
            "=I", _index(name)))
        self.request(f"add default route via {gateway}", RTM_NEWROUTE, body, NLM_F_CREATE | NLM_F_EXCL)


def _index(name: str) -> int:
    try:
        return socket.if_nametoindex(name)
    except OSError:
        raise ToolError("netlink", f"no such interface: {name}") from None


def _messages(data: bytes) -> List[Tuple[int, int, bytes]]:
    """(type, seq, payload) of each message in one datagram."""
    found = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, _flags, seq, _pid = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size:
            break
        found.append((kind, seq, data[offset + _HEADER.size:offset + length]))
        offset += (length + 3) & ~3
    return found


def configure_container_end(interface: str, address: str, prefixlen: int, mac: str, gateway: str,
                            default_route: bool, ipv6: Optional[str] = None) -> None:
    """The container's end, in the calling thread's namespace (the container's): MAC, addresses
    (IPv6 "2001:db8::2/64" with nodad: the store hands it out, and duplicate address detection
    would leave it "tentative", unusable, for a second), up, lo up, and the default route when
    asked. No IPv6 default route: the uplink is IPv4 only, and without a route a connect() to a
    global IPv6 address fails at once (ENETUNREACH) rather than timing out, so clients fall back
    to IPv4 as they would on an IPv4-only host."""
    with Rtnl() as rtnl:
        if mac:
            rtnl.set_link(interface, mac=mac)
        rtnl.add_address(interface, address, prefixlen)
        if ipv6:
            address6, _, prefix6 = ipv6.partition("/")
            rtnl.add_address(interface, address6, int(prefix6 or 128), nodad=True)
        rtnl.set_link(interface, up=True)
        rtnl.set_link("lo", up=True)
        if default_route:
            rtnl.add_default_route(gateway, interface)


def delete_link(name: str) -> bool:
    """ip link del NAME in the calling thread's namespace; False when there was none."""
    with Rtnl() as rtnl:
        return rtnl.delete_link(name)


def add_bridge_port(veth: str, interface: str, container_netns: str, bridge: str) -> None:
    """ip link add VETH type veth peer name INTERFACE netns PATH; ip link set VETH master BRIDGE up
    (in the calling thread's namespace, the shared one)."""
    try:
        fd = os.open(container_netns, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise ToolError("netlink", f"open network namespace {container_netns}: {exc.strerror}") from None
    try:
        with Rtnl() as rtnl:
            rtnl.add_veth(veth, interface, fd)
            rtnl.set_link(veth, up=True, master=bridge)
    finally:
        os.close(fd)
