"""What to tell ip(8), nft(8) and the uplink for the shared namespace: text only, no side effects.

The firewall is netavark's rootless-netns shape in one nft table:
forwarding is off except bridge -> uplink (masqueraded) for networks that
are not internal, replies, and the uplink's port forwards back to those
bridges; so two networks never reach each other, and an internal network
reaches nothing. The input chain keeps a container from talking to
addresses of the namespace that are not on its own bridge (another
network's DNS responder, the tap).
"""
from __future__ import annotations

import hashlib
import ipaddress
from typing import List, Optional

from rootless.errors import InvalidArgument
from rootless.runtime.network import slirp

TABLE = "rootless"
DIVERT_TABLE = "rootless_divert"
DIVERT_MARK = 0x5250  # "RP": packets for the port forwarder's transparent sockets (and their route table)
TAP = "tap0"
BRIDGE_PREFIX, VETH_PREFIX = "rlb", "rlv"
IFNAMSIZ = 15
# slirp4netns maps its gateway to the host's loopback unless told not to; only
# containers that opted in (set host_loopback) may send there.
HOST_LOOPBACK_ADDRESS = slirp.GATEWAY


def bridge_name(network_id: str) -> str:
    """rlb + 12 hex of the network id: fits IFNAMSIZ, and "rlb*" names all our bridges."""
    return f"{BRIDGE_PREFIX}{network_id[:IFNAMSIZ - len(BRIDGE_PREFIX)]}"


def veth_name(network_id: str, container_id: str) -> str:
    """The namespace's end of a container's veth: stable, so detach finds it again."""
    digest = hashlib.sha256(f"{network_id}/{container_id}".encode()).hexdigest()
    return f"{VETH_PREFIX}{digest[:IFNAMSIZ - len(VETH_PREFIX)]}"


def prefixlen_of(subnet: str) -> int:
    return ipaddress.IPv4Network(subnet, strict=False).prefixlen


def check_interface(name: str) -> str:
    """An interface name for inside the container (eth0, eth1, ...)."""
    if not name or len(name) > IFNAMSIZ or not all(c.isalnum() or c in "-_." for c in name):
        raise InvalidArgument(f"invalid interface name: {name!r}")
    return name


def base_ruleset(tap: str = TAP, host_loopback: str = HOST_LOOPBACK_ADDRESS) -> str:
    """The table created once per namespace; per-network state lives in its sets."""
    return f"""table inet {TABLE} {{
  set uplinked {{ type ifname; }}
  set same {{ type ifname . ifname; }}
  set loopback_ok {{ type ipv4_addr; }}
  chain input {{
    type filter hook input priority 0; policy accept;
    iifname "{BRIDGE_PREFIX}*" meta mark != {DIVERT_MARK:#010x} fib daddr . iif type != local drop
  }}
  chain forward {{
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname . oifname @same accept
    ip daddr {host_loopback} ip saddr != @loopback_ok drop
    iifname @uplinked oifname "{tap}" accept
    iifname "{tap}" oifname @uplinked accept
  }}
  chain postrouting {{
    type nat hook postrouting priority 100; policy accept;
    oifname "{tap}" masquerade
  }}
}}
"""


def input_chain_is_current(listing: str) -> bool:
    """Whether a listed table has the input rule that lets diverted replies in (older ones lack it)."""
    return f"meta mark != {DIVERT_MARK:#010x}" in listing


def input_chain_update() -> str:
    """nft commands giving an older table today's input rule (the namespace outlived a daemon upgrade)."""
    return (f"flush chain inet {TABLE} input\n"
            f'add rule inet {TABLE} input iifname "{BRIDGE_PREFIX}*" meta mark != {DIVERT_MARK:#010x} '
            f"fib daddr . iif type != local drop\n")


def divert_ruleset() -> str:
    """Replies to the port forwarder's transparent sockets are for this namespace, not the uplink.

    The forwarder (port_forwarder.py) connects to containers from the
    client's own address; a reply to that address would be routed out of the
    uplink. Packets of a transparent socket get DIVERT_MARK here, and
    divert_routes() sends marked packets to the local stack (the TPROXY
    "divert" recipe of the kernel's Documentation/networking/tproxy.rst).
    """
    return f"""table inet {DIVERT_TABLE} {{
  chain divert {{
    type filter hook prerouting priority -150; policy accept;
    meta l4proto {{ tcp, udp }} socket transparent 1 meta mark set {DIVERT_MARK:#x} accept
  }}
}}
"""


def divert_routes(present_rules: str) -> str:
    """ip -batch for the policy route of diverted packets; present_rules: `ip rule list` output."""
    lines = [f"route replace local 0.0.0.0/0 dev lo table {DIVERT_MARK}"]
    if f"lookup {DIVERT_MARK}" not in present_rules:
        lines.append(f"rule add fwmark {DIVERT_MARK:#x} lookup {DIVERT_MARK} priority 100")
    return "\n".join(lines) + "\n"


def bridge_elements(network_id: str, internal: bool, add: bool = True) -> str:
    """nft commands (un)registering a bridge: traffic within it, and (not internal) out."""
    verb = "add" if add else "delete"
    name = bridge_name(network_id)
    lines = [f'{verb} element inet {TABLE} same {{ "{name}" . "{name}" }}']
    if not internal:
        lines.append(f'{verb} element inet {TABLE} uplinked {{ "{name}" }}')
    return "\n".join(lines) + "\n"


def loopback_element(address: str, add: bool = True) -> str:
    return f"{'add' if add else 'delete'} element inet {TABLE} loopback_ok {{ {address} }}\n"


def bridge_mac(gateway: str) -> str:
    """A fixed MAC for the bridge, derived from its address (02:52 + the IPv4 bytes).

    A bridge without one takes the lowest MAC of its ports and changes it as
    containers come and go; the containers' ARP entries for the gateway then
    point nowhere for seconds (DNS and outbound time out after an attach).
    """
    return "02:52:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(gateway).packed)


def prefixlen6_of(subnet6: str) -> int:
    return ipaddress.IPv6Network(subnet6, strict=False).prefixlen


def bridge_batch(network_id: str, subnet: str, gateway: str, subnet6: str = "", gateway6: str = "") -> str:
    """ip -batch: the bridge with a fixed MAC and the gateway address (and IPv6 one), up.

    nodad: the addresses are ours alone (the store hands them out), and
    duplicate address detection would leave them "tentative", unusable, for a second.
    """
    name = bridge_name(network_id)
    v6 = f"addr add {gateway6}/{prefixlen6_of(subnet6)} dev {name} nodad\n" if subnet6 and gateway6 else ""
    return (f"link add {name} address {bridge_mac(gateway)} type bridge\n"
            f"addr add {gateway}/{prefixlen_of(subnet)} dev {name}\n{v6}"
            f"link set {name} up\n")


def uplink_slirp_argv(netns_file: str, api_socket: str, features: slirp.Features,
                      binary: str = slirp.BINARY) -> List[str]:
    """slirp4netns for the shared namespace; argv without --ready-fd.

    No --exit-fd: the uplink must outlive the daemon that started it. Host
    loopback stays reachable at slirp's gateway: the firewall decides who
    may use it (loopback_ok).
    """
    argv = [binary, "--configure", f"--mtu={slirp.MTU}"]
    if features.seccomp:
        argv.append("--enable-seccomp")
    if features.api_socket:
        argv += ["--api-socket", api_socket]
    return argv + ["--netns-type=path", netns_file, TAP]


def uplink_pasta_argv(netns_file: str, pid_file: str, binary: str = "pasta") -> List[str]:
    """pasta for the shared namespace: outbound only (its forwards are fixed at start).

    Its gateway address stays mapped to the host's loopback, as slirp's is:
    the firewall decides who may use it (loopback_ok).
    """
    return [binary, "--config-net", "--quiet", "--runas", "0:0", "--pid", pid_file,
            "-I", TAP, "-t", "none", "-u", "none", "-T", "none", "-U", "none", "--netns", netns_file]
