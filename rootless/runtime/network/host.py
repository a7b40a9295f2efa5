"""What the engine asks of user-network plumbing: the NetworkHost interface.

The engine turns networks/ records into the plain values below (runtime/
knows no network records, STYLE.md §1) and calls a NetworkHost; the one
implementation is rootless_netns.RootlessNetns (podman's "rootless-netns").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Protocol, Sequence, Tuple

from rootless.runtime.network.slirp import PortMapping


@dataclass(frozen=True)
class BridgeSpec:
    """A user network as the plumbing needs it (subnet "10.89.1.0/24", gateway in it)."""

    network_id: str
    subnet: str
    gateway: str
    internal: bool = False
    subnet6: str = ""  # an IPv6 network's ("2001:db8::/64"), its gateway on the bridge too
    gateway6: str = ""


@dataclass(frozen=True)
class EndpointSpec:
    """One container on one network.

    names: what the network's DNS answers with ipv4 (container name,
    aliases, short id). default_route: only for the container's first
    network (and never an internal one). host_loopback: the container may
    reach the host's 127.0.0.1 through the uplink's gateway address
    (opt-in: --add-host …:host-gateway). mac: "" lets the kernel choose.
    ipv6: on an IPv6 network, the address with its prefix ("2001:db8::2/64").
    """

    network_id: str
    container_id: str
    ipv4: str
    interface: str = "eth0"
    mac: str = ""
    names: Tuple[str, ...] = ()
    default_route: bool = True
    host_loopback: bool = False
    ipv6: Optional[str] = None


@dataclass(frozen=True)
class EndpointInfo:
    """What attach() set up, for inspect and for detach()."""

    interface: str
    host_veth: str
    ipv4: str
    prefixlen: int
    gateway: str
    mac: str
    ipv6: str = ""


@dataclass(frozen=True)
class Published:
    """A published port as forwarded (host_port filled in) and the handle to undo it.

    forward_id: -pid of the container's port forwarder (port_forwarder.py;
    every port of one publish() call shares it), or, in records from before
    it, slirp4netns's hostfwd id (> 0).
    """

    mapping: PortMapping
    container_ip: str
    forward_id: int = 0


class NetworkHost(Protocol):
    """The shared network namespace of one engine and everything in it.

    Lifecycle, all calls from the daemon (any thread; calls are serialised):

    1. ensure() at daemon start and before anything else: creates the
       namespace, its firewall, uplink and DNS responder, or adopts the ones
       a previous daemon left (they outlive it, so containers keep their
       network across daemon restarts and kills).
    2. create_bridge(spec) for every network with containers to run (again
       after a restart: idempotent); remove_bridge(network_id) when the
       network is removed.
    3. attach(netns_path, endpoint) once the container's network namespace
       exists (crun created, not started; or a running container on
       `network connect`); detach(netns_path, endpoint) on stop/disconnect.
       The DNS answers change with them, at once.
    4. publish(ports, container_ip) after attach; unpublish(published) on
       stop. A forwarder process per call relays host ports to the container
       address with the client's own address as the source (not through
       the uplink); a taken port raises Conflict in docker's words.
    5. destroy() when the engine stops for good (system stop): nothing is
       left running.
    """

    uplink: str  # slirp4netns or pasta: the one running after ensure() (an adopted one may differ from the asked)

    def ensure(self) -> None: ...

    def create_bridge(self, spec: BridgeSpec) -> None: ...

    def remove_bridge(self, network_id: str) -> None: ...

    def attach(self, netns_path: str, endpoint: EndpointSpec) -> EndpointInfo: ...

    def detach(self, netns_path: str, endpoint: EndpointSpec, wait: bool = True) -> None: ...

    def publish(self, ports: Sequence[PortMapping], container_ip: str) -> List[Published]: ...

    def unpublish(self, published: Sequence[Published]) -> None: ...

    def resolver_for(self, network_id: str) -> Optional[str]: ...

    def host_loopback_address(self) -> str:
        """The address the uplink maps to the host's loopback; only endpoints with
        host_loopback may reach it (the opt-in: --add-host x:host-gateway)."""
        ...

    def destroy(self) -> None: ...
