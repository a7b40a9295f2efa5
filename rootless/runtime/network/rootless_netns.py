"""The shared network namespace of one engine ("rootless-netns"), as podman keeps it.

One namespace per runtime dir, kept alive by a bind mount of its nsfs file
at <state>/netns (in the daemon's mount namespace, which the pause process
holds), not by any process. In it: a bridge per user network, the uplink
(slirp4netns, or pasta for outbound only) on tap0, an nft table
(plumbing.base_ruleset) and the DNS responder (dns_server.py). The uplink
and the responder are started detached and recorded in <state>/*.json, so
a daemon that restarts finds and adopts all of it (ensure()).

Must run in the daemon's user+mount namespace, as its root. Every tool runs
through util/proc from a thread of its own that joined the target network
namespace and ends with the call (in_netns): the tool inherits that thread's
namespace, and no other thread of the daemon ever changes namespace. This
used to be nsenter(1), one exec more per tool: 5 of them on every container
start, ~4 ms each on this host (bench/README.md, "The run path, quiet machine").
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import json
import logging
import os
import signal
import socket
import sys
import struct
import threading
import time
from dataclasses import replace
from typing import Callable, Dict, Iterator, List, Optional, Sequence, TypeVar

from rootless.errors import FailedPrecondition, InvalidArgument, NotFound, ToolError
from rootless.runtime.network import names, plumbing, port_forwarder, rtnl, slirp
from rootless.runtime.network.host import BridgeSpec, EndpointInfo, EndpointSpec, NetworkHost, Published
from rootless.runtime.network.slirp import PortMapping
from rootless.util import fs, linux, proc

logger = logging.getLogger(__name__)

SLIRP4NETNS, PASTA = "slirp4netns", "pasta"
READY_TIMEOUT = 10.0
SIOCGIFNETMASK = 0x891B
T = TypeVar("T")


def in_netns(netns: str, action: Callable[[], T]) -> T:
    """action() on a new thread that joined the network namespace at netns; its result or exception.

    setns(CLONE_NEWNET) changes only the calling thread, and what the thread
    starts (sockets, child processes) is made in its namespace; the thread
    ends with the call, so no thread that serves anything else is ever moved.
    """
    outcome: Dict[str, object] = {}

    def run() -> None:
        try:
            _join(netns)
            outcome["result"] = action()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


def _link_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False


def _ipv4_prefixlen(name: str) -> Optional[int]:
    """The prefix of the interface's (first) IPv4 address; None without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            reply = fcntl.ioctl(sock.fileno(), SIOCGIFNETMASK, struct.pack("16s16x", name.encode()))
        except OSError:
            return None
    return bin(int.from_bytes(reply[20:24], "big")).count("1")


def _join(netns: str) -> None:
    """Move the calling thread (one of in_netns's, which ends with its action) into netns.

    Raises:
        ToolError: no such namespace, or not ours to enter.
    """
    try:
        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            linux.setns(fd, linux.CLONE_NEWNET)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ToolError("setns", f"enter network namespace {netns}: {exc.strerror or exc}") from None


def _wire_veth(veth: str, interface: str, container_netns: str, bridge: str,
               configure: Callable[[int], None]) -> Optional[int]:
    """_add_bridge_port from the shared namespace, then, from the container's, configure(prefixlen)
    of its end: one namespace thread per attach where two were (a thread start is 0.2-0.5 ms while
    a start runs). None, and nothing done, when the bridge or its address is not there."""
    prefixlen = _add_bridge_port(veth, interface, container_netns, bridge)
    if prefixlen is not None:
        _join(container_netns)
        configure(prefixlen)
    return prefixlen


def _add_bridge_port(veth: str, interface: str, container_netns: str, bridge: str) -> Optional[int]:
    """The bridge's own prefix (the network's subnet, from its address), then the veth on it
    (in the calling thread's namespace, the shared one); None, and no veth, when the bridge
    or its address is not there."""
    prefixlen = _ipv4_prefixlen(bridge)
    if prefixlen is not None:
        rtnl.add_bridge_port(veth, interface, container_netns, bridge)
    return prefixlen


def _tool(name: str) -> str:
    found = proc.which(name)
    if not found:
        package = {"ip": "iproute2", "nft": "nftables", "nsenter": "util-linux", "unshare": "util-linux"}
        raise ToolError(name, "not found", hint=f"install it: apt-get install {package.get(name, name)}")
    return found


def _is_live(pid: int, *markers: str) -> bool:
    """pid runs (not a zombie) and its command line has every marker (pids are reused)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X") and all(m.encode() in cmdline for m in markers)


def _stop(pid: int, *markers: str) -> None:
    if not _is_live(pid, *markers):
        return
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 2
    while _is_live(pid, *markers) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)  # ours when this daemon started it
        time.sleep(0.01)
    if _is_live(pid, *markers):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _stop_orphans(*markers: str) -> None:
    """Stop helpers for this namespace that no state file names: a daemon killed while it
    started one left it running (holding the tap), and the next start would fail on it."""
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and _is_live(int(entry), *markers):
            logger.info("stopping %s, left by a daemon killed while it started it", entry)
            _stop(int(entry), *markers)


def has_udp_listener(proc_net_udp: str, address: str, port: int) -> bool:
    """Whether a /proc/net/udp table has a socket bound to address:port (little-endian hex)."""
    packed = bytes(int(part) for part in address.split("."))
    wanted = f"{int.from_bytes(packed, 'little'):08X}:{port:04X}"
    return any(line.split()[1:2] == [wanted] for line in proc_net_udp.splitlines()[1:])


def is_listening_udp(pid: int, address: str, port: int) -> bool:
    """Whether pid's network namespace has a UDP socket bound to address:port."""
    try:
        with open(f"/proc/{pid}/net/udp", encoding="ascii") as f:
            return has_udp_listener(f.read(), address, port)
    except OSError:
        return False


class RootlessNetns:
    """NetworkHost for one engine: see host.NetworkHost for the lifecycle."""

    def __init__(self, state_dir: str, uplink: str = SLIRP4NETNS, upstreams: Optional[List[str]] = None) -> None:
        if uplink not in (SLIRP4NETNS, PASTA):
            raise InvalidArgument(f"invalid network uplink: {uplink}: want slirp4netns or pasta")
        self.state_dir = state_dir
        self.uplink = uplink
        # ip:port resolvers the responder forwards to; the host's by default.
        self.upstreams = upstreams if upstreams is not None else names.host_resolvers()
        self.netns_file = os.path.join(state_dir, "netns")
        self.table = names.NameTable(names.table_path(state_dir))
        self._lock = threading.RLock()
        self.transparent = False  # ensure() found the divert rules in place (port_forwarder.py)
        # Bridges this object set up whole (link, firewall elements, DNS): a container start
        # on one of them checks that its link is still there and skips the rest.
        self._ready: Dict[str, BridgeSpec] = {}

    # -- running tools in a namespace -------------------------------------------------

    def run_in(self, netns: str, argv: Sequence[str], input: Optional[str] = None,
               check: bool = True) -> proc.Completed:
        """argv inside the network namespace at netns (only the network one)."""
        return in_netns(netns, lambda: proc.run(argv, tool=os.path.basename(argv[0]), check=check, timeout=30,
                                                input=input.encode() if input is not None else None))

    def ip_batch(self, netns: str, batch: str) -> None:
        self.run_in(netns, [_tool("ip"), "-batch", "-"], input=batch)

    def nft(self, commands: str, check: bool = True) -> proc.Completed:
        return self.run_in(self.netns_file, [_tool("nft"), "-f", "-"], input=commands, check=check)

    # -- the namespace, its firewall, uplink and responder -------------------------

    def is_created(self) -> bool:
        """The bind mount is there: the file's device is nsfs, not the state dir's."""
        try:
            return os.stat(self.netns_file).st_dev != os.stat(self.state_dir).st_dev
        except FileNotFoundError:
            return False

    def ensure(self) -> None:
        """Create or adopt the namespace, firewall, uplink and DNS responder."""
        with self._lock:
            os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
            self._ready.clear()
            _tool("nft")  # before anything: without the firewall, every network would reach every other
            self.table = names.NameTable.load(self.table.path)
            if not self.is_created():
                self._create_netns()
                # A new namespace has no bridges: names of an old one (its mount namespace
                # ended with the pause process) would be listened for in vain.
                self.table = names.NameTable(self.table.path)
                self.table.save()
            else:
                self._adopt_other_uplink()
            if not self._uplink_alive():
                self._start_uplink()
            listing = self.run_in(self.netns_file, [_tool("nft"), "list", "table", "inet", plumbing.TABLE],
                                  check=False)
            if listing.returncode != 0:
                self.nft(plumbing.base_ruleset(host_loopback=str(self._state("uplink")["host_loopback"])))
                # Forwarding is per namespace, and only now is there a firewall deciding what is forwarded.
                self.run_in(self.netns_file, ["/bin/sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])
            elif not plumbing.input_chain_is_current(listing.text):
                self.nft(plumbing.input_chain_update())
            self._ensure_divert()
            if not self._responder_alive():
                self.table.save()
                self._start_responder()

    def _ensure_divert(self) -> None:
        """The rule and route that bring replies to the port forwarder's transparent sockets home."""
        self.transparent = False
        try:
            if self.run_in(self.netns_file, [_tool("nft"), "list", "table", "inet", plumbing.DIVERT_TABLE],
                           check=False).returncode != 0:
                self.nft(plumbing.divert_ruleset())
            rules = self.run_in(self.netns_file, [_tool("ip"), "rule", "list"]).text
            self.ip_batch(self.netns_file, plumbing.divert_routes(rules))
            self.transparent = True
        except ToolError as exc:  # e.g. a kernel without nft_socket: forwards work, the source is the gateway
            logger.warning("published ports: the client's address can't be kept: %s", exc)

    def _create_netns(self) -> None:
        with open(self.netns_file, "a"):
            pass
        proc.run([_tool("unshare"), f"--net={self.netns_file}", "true"], tool="unshare")
        self.ip_batch(self.netns_file, "link set lo up\n")
        logger.debug("created the shared network namespace %s", self.netns_file)

    def _state(self, name: str) -> Dict[str, object]:
        try:
            with open(os.path.join(self.state_dir, f"{name}.json"), encoding="utf-8") as f:
                data: Dict[str, object] = json.load(f)
                return data
        except (OSError, ValueError):
            return {}

    def _pid_of(self, name: str) -> int:
        pid = self._state(name).get("pid")
        return pid if isinstance(pid, int) else 0

    def _adopt_other_uplink(self) -> None:
        """A live uplink of the other kind (network_backend changed since) is kept, not swapped:
        swapping would cut the running containers' connections and strand the firewall's
        host-loopback address. The configured kind comes with a new namespace (system stop --all)."""
        kind = str(self._state("uplink").get("kind") or "")
        if kind in (SLIRP4NETNS, PASTA) and kind != self.uplink and _is_live(self._pid_of("uplink"), kind,
                                                                              self.netns_file):
            logger.warning("shared network namespace: keeping its running %s uplink (configured: %s) "
                           "until 'rootless system stop --all'", kind, self.uplink)
            self.uplink = kind

    def _uplink_alive(self) -> bool:
        state = self._state("uplink")
        return state.get("kind") == self.uplink and _is_live(self._pid_of("uplink"), self.uplink, self.netns_file)

    def _start_uplink(self) -> None:
        """Start the uplink (stopping one of another kind); record it and its host-loopback address."""
        old = self._state("uplink")
        _stop(self._pid_of("uplink"), str(old.get("kind") or self.uplink), self.netns_file)
        _stop_orphans(self.uplink, self.netns_file)
        pid = self._start_slirp() if self.uplink == SLIRP4NETNS else self._start_pasta()
        # slirp4netns delivers a port forward to a container's address by ARPing for it
        # on the tap: the namespace answers for the addresses it routes to its bridges.
        self.run_in(self.netns_file, ["/bin/sh", "-c", f"echo 1 > /proc/sys/net/ipv4/conf/{plumbing.TAP}/proxy_arp"])
        # Both map their gateway address to the host's loopback; the firewall guards it.
        loopback = slirp.GATEWAY if self.uplink == SLIRP4NETNS else self._default_gateway()
        fs.atomic_write_json(os.path.join(self.state_dir, "uplink.json"),
                             {"kind": self.uplink, "pid": pid, "api_socket": self.api_socket,
                              "host_loopback": loopback}, mode=0o600)

    def _default_gateway(self) -> str:
        out = self.run_in(self.netns_file, [_tool("ip"), "-j", "-4", "route", "show", "default"]).text
        routes = json.loads(out or "[]")
        if not routes or "gateway" not in routes[0]:
            raise ToolError(PASTA, "configured no default route in the shared namespace",
                            hint="does the host have an IPv4 default route?")
        return str(routes[0]["gateway"])

    @property
    def api_socket(self) -> str:
        return os.path.join(self.state_dir, "slirp.sock")

    def _start_slirp(self) -> int:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.api_socket)
        features = slirp.detect_features()
        if not features.api_socket:
            raise FailedPrecondition("start network uplink: slirp4netns: too old (no --api-socket)",
                                     hint="install slirp4netns >= 0.4")
        argv = plumbing.uplink_slirp_argv(self.netns_file, self.api_socket, features)
        return self._start_detached(argv, 1, slirp.BINARY, "uplink.log")

    def _start_pasta(self) -> int:
        pid_file = os.path.join(self.state_dir, "pasta.pid")
        # pasta daemonises once the namespace is configured: its parent's exit is the signal.
        proc.run(plumbing.uplink_pasta_argv(self.netns_file, pid_file), tool=PASTA, timeout=READY_TIMEOUT,
                 stdout=proc.DEVNULL)
        with open(pid_file, encoding="ascii") as f:
            return int(f.read().strip())

    def _responder_alive(self) -> bool:
        return _is_live(self._pid_of("dns"), "dns_server", self.netns_file)

    def _start_responder(self) -> None:
        """Start dns_server.py detached; ready once it has handlers and listeners."""
        argv = [sys.executable, "-m", "rootless.runtime.network.dns_server", self.netns_file,
                self.table.path, *self.upstreams]
        _stop_orphans("dns_server", self.netns_file)
        pid = self._start_detached(argv, 3, "dns", "dns.log")
        fs.atomic_write_json(os.path.join(self.state_dir, "dns.json"), {"pid": pid}, mode=0o600)

    def _start_detached(self, argv: List[str], ready_at: int, tool: str, log_name: str,
                        extra_fds: Sequence[int] = ()) -> int:
        """A helper in a session of its own (it outlives us), once it wrote to --ready-fd.

        ready_at: where in argv the --ready-fd option goes (before positional arguments).
        """
        read_fd, write_fd = os.pipe()
        try:
            with open(os.path.join(self.state_dir, log_name), "ab") as log:
                full = [*argv[:ready_at], f"--ready-fd={write_fd}", *argv[ready_at:]]
                helper = proc.popen(full, tool=tool, stderr=log, pass_fds=(write_fd, *extra_fds),
                                    start_new_session=True)
            os.close(write_fd)
            write_fd = -1
            proc.wait_ready(helper, read_fd, tool, READY_TIMEOUT)
        finally:
            for fd in (read_fd, write_fd):
                if fd >= 0:
                    os.close(fd)
        return helper.pid

    def _update_responder(self, wait_for: Optional[str] = None) -> None:
        """Save the table and make the responder read it; wait until it listens on wait_for."""
        self.table.save()
        pid = self._pid_of("dns")
        if not _is_live(pid, "dns_server", self.netns_file):
            self._start_responder()
            pid = self._pid_of("dns")
        else:
            os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + READY_TIMEOUT
        while wait_for and not is_listening_udp(pid, wait_for, 53):
            if time.monotonic() > deadline:
                raise ToolError("dns", f"not listening on {wait_for}:53 after {READY_TIMEOUT}s",
                                hint=f"see {os.path.join(self.state_dir, 'dns.log')}")
            time.sleep(0.01)

    # -- bridges and endpoints --------------------------------------------------------

    def _has_link(self, netns: str, name: str) -> bool:
        try:
            return in_netns(netns, lambda: _link_exists(name))
        except ToolError:
            return False

    def create_bridge(self, spec: BridgeSpec) -> None:
        """The network's bridge with its gateway address, its firewall entries and DNS; idempotent.

        One this daemon set up already (and whose responder runs) is not looked at in the
        kernel again: attach() finds a bridge gone from the thread that adds its port, and
        has it made again (one namespace thread fewer on every start).
        """
        with self._lock:
            if self._ready.get(spec.network_id) == spec and self._responder_alive():
                return
            name = plumbing.bridge_name(spec.network_id)
            present = self._has_link(self.netns_file, name)
            self._ready.pop(spec.network_id, None)
            created = not present
            if created:
                self.ip_batch(self.netns_file, plumbing.bridge_batch(spec.network_id, spec.subnet, spec.gateway,
                                                                     spec.subnet6, spec.gateway6))
            try:  # "add element" of a present element is a no-op: a restarted daemon repeats it safely
                self.nft(plumbing.bridge_elements(spec.network_id, spec.internal))
            except ToolError:
                if created:
                    self.run_in(self.netns_file, [_tool("ip"), "link", "del", name], check=False)
                raise
            self.table.set_network(spec.network_id, spec.gateway, spec.internal)
            self._update_responder(wait_for=spec.gateway)
            self._ready[spec.network_id] = spec

    def remove_bridge(self, network_id: str) -> None:
        with self._lock:
            entry = self.table.networks.get(network_id)
            self._ready.pop(network_id, None)
            self.table.drop_network(network_id)
            self._update_responder()
            name = plumbing.bridge_name(network_id)
            if self._has_link(self.netns_file, name):
                self.run_in(self.netns_file, [_tool("ip"), "link", "del", name])
            # The elements may be gone already (internal networks have one fewer): ignore.
            for internal in (False, True):
                self.nft(plumbing.bridge_elements(network_id, internal, add=False), check=False)
            logger.debug("removed bridge %s (%s)", name, "known" if entry else "unknown")

    def _network(self, network_id: str) -> names.NetworkNames:
        entry = self.table.networks.get(network_id)
        if entry is None:
            raise NotFound(f"attach to network: {network_id[:12]}: no bridge for it",
                           hint="create_bridge() first")
        return entry

    def attach(self, netns_path: str, endpoint: EndpointSpec) -> EndpointInfo:
        """A veth from the network's bridge to endpoint.interface in the namespace at netns_path."""
        with self._lock:
            entry = self._network(endpoint.network_id)
            interface = plumbing.check_interface(endpoint.interface)
            veth = plumbing.veth_name(endpoint.network_id, endpoint.container_id)
            try:
                # netlink from one thread, in the shared namespace then the container's (rtnl.py):
                # what two `ip -batch` runs did; the bridge's prefix from the same thread
                route = endpoint.default_route and not entry.internal
                prefixlen = self._bridge_port(endpoint.network_id, veth, interface, netns_path, lambda prefix: (
                    rtnl.configure_container_end(interface, endpoint.ipv4, prefix, endpoint.mac, entry.gateway,
                                                 route, endpoint.ipv6)))
                if endpoint.host_loopback:
                    self.nft(plumbing.loopback_element(endpoint.ipv4))
            except ToolError:
                with contextlib.suppress(ToolError):
                    self._delete_link(veth)
                raise
            if self.table.add(endpoint.network_id, endpoint.ipv4, list(endpoint.names)):
                self._update_responder()  # the default bridge's containers have no names: nothing to tell
            return EndpointInfo(interface, veth, endpoint.ipv4, prefixlen, entry.gateway, endpoint.mac,
                                endpoint.ipv6 or "")

    def _bridge_port(self, network_id: str, veth: str, interface: str, netns_path: str,
                     configure: Callable[[int], None]) -> int:
        """The veth on the network's bridge, and its container end configured (_wire_veth); the
        bridge made again first if it is gone (deleted behind our back: create_bridge trusts
        what it set up). The bridge's prefix."""
        bridge = plumbing.bridge_name(network_id)
        wire = functools.partial(_wire_veth, veth, interface, netns_path, bridge, configure)
        prefixlen = in_netns(self.netns_file, wire)
        if prefixlen is None:
            spec = self._ready.pop(network_id, None)
            if spec is None:
                raise NotFound(f"attach: bridge {bridge}: not there", hint="create_bridge() first")
            logger.warning("bridge %s was gone: making it again", bridge)
            self.create_bridge(spec)
            prefixlen = in_netns(self.netns_file, wire)
        if prefixlen is None:
            raise NotFound(f"attach: bridge {bridge}: has no IPv4 address")
        return prefixlen

    def detach(self, netns_path: str, endpoint: EndpointSpec, wait: bool = True) -> None:
        """Undo attach(); the container's namespace may be gone already (then its veth is too).

        wait=False (a container being removed, whose veth name never comes back): the veth
        is deleted on a thread of its own. Right after the container's exit the kernel is
        still tearing its namespace down (and with it the pair), and the deletion waits
        for that: ~15 ms here, which a `run --rm` would otherwise spend before its answer.
        """
        with self._lock:
            veth = plumbing.veth_name(endpoint.network_id, endpoint.container_id)
            if wait:
                self._delete_link(veth)
            else:
                threading.Thread(target=self._delete_link_quietly, args=(veth,), name="veth-del",
                                 daemon=True).start()
            if endpoint.host_loopback:
                self.nft(plumbing.loopback_element(endpoint.ipv4, add=False), check=False)
            if self.table.remove(endpoint.network_id, endpoint.ipv4):
                self._update_responder()

    def _delete_link(self, veth: str) -> None:
        # By netlink from a thread in the namespace, not `ip link del` (a process, and on the
        # background thread of a --rm exit its set-up held the GIL the exit path needed). The
        # kernel deletes the pair itself once the container's namespace is gone: no such link
        # is no failure.
        in_netns(self.netns_file, lambda: rtnl.delete_link(veth))

    def _delete_link_quietly(self, veth: str) -> None:
        try:
            self._delete_link(veth)
        except ToolError as exc:
            logger.warning("can't delete %s of a removed container: %s", veth, exc)

    def resolver_for(self, network_id: str) -> Optional[str]:
        """The nameserver for a container's resolv.conf on this network (its gateway)."""
        entry = self.table.networks.get(network_id)
        return entry.gateway if entry else None

    def host_loopback_address(self) -> str:
        """The uplink's address for the host's loopback, as recorded when it started (ensure() first)."""
        return str(self._state("uplink").get("host_loopback") or plumbing.HOST_LOOPBACK_ADDRESS)

    # -- published ports ----------------------------------------------------------------

    def publish(self, ports: Sequence[PortMapping], container_ip: str) -> List[Published]:
        """Forward host ports to container_ip (port_forwarder.py); all or nothing.

        The host sockets are bound here, so a taken port fails now in
        docker's words and an ephemeral port is the kernel's pick, not a
        guess. No host address binds 0.0.0.0 and [::] as dockerd does
        (port_forwarder.binding_plan): one Published each. One forwarder process per call (per container); every
        Published of the call carries -pid as its forward_id.
        """
        for mapping in ports:
            if mapping.proto not in ("tcp", "udp"):
                raise InvalidArgument(f"can't publish port: {mapping.container_port}/{mapping.proto}: "
                                      "only tcp and udp are forwarded")
        if not ports:
            return []
        with port_forwarder.bound_host_sockets(ports, port_forwarder.host_has_ipv6()) as bound:
            spec = [{"fd": sock.fileno(), "proto": m.proto, "ip": container_ip, "port": m.container_port}
                    for m, sock in bound]
            argv = [sys.executable, "-m", "rootless.runtime.network.port_forwarder", self.netns_file,
                    self.table.path, json.dumps(spec)]
            if not self.transparent:
                argv.append("--no-transparent")
            pid = self._start_detached(argv, 3, "ports", "ports.log", extra_fds=[sock.fileno() for _, sock in bound])
            # the forwarder has its copies: ours close on leaving
            return [Published(m, container_ip, -pid) for m, _ in bound]
        raise AssertionError("unreachable")  # pragma: no cover (mypy: a context manager may swallow)

    def unpublish(self, published: Sequence[Published]) -> None:
        """Stop the forwarders (their host sockets close with them); older records: slirp4netns forwards."""
        for forward_id in dict.fromkeys(p.forward_id for p in published):
            if forward_id < 0:
                _stop(-forward_id, "port_forwarder", self.netns_file)
            elif forward_id > 0:
                with contextlib.suppress(OSError, ValueError):
                    slirp.api_call(self.api_socket, {"execute": "remove_hostfwd", "arguments": {"id": forward_id}})

    # -- the end -------------------------------------------------------------------------

    def destroy(self) -> None:
        """Stop the responder and uplink and drop the namespace (every container must be detached)."""
        with self._lock:
            self._ready.clear()
            _stop(self._pid_of("dns"), "dns_server", self.netns_file)
            _stop(self._pid_of("uplink"), self.uplink, self.netns_file)
            if self.is_created():
                linux.umount(self.netns_file, linux.MNT_DETACH)
            for name in ("netns", "dns.json", "uplink.json", "names.json", "slirp.sock", "pasta.pid", "ports.log"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.state_dir, name))


def open_network_host(state_dir: str, uplink: str = SLIRP4NETNS,
                      upstreams: Optional[List[str]] = None) -> NetworkHost:
    """The engine's door: a NetworkHost over state_dir (e.g. <runtime dir>/netns); call ensure() next."""
    return RootlessNetns(state_dir, uplink, upstreams)
