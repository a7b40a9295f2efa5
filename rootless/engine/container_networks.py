"""User networks as containers use them: network records turned into plumbing calls.

The records (networks/store.py: subnet, gateway, internal, each container's
endpoint with its IPAM address and aliases) are the truth; the plumbing
(runtime/network/host.py NetworkHost: one shared namespace, a bridge per
network, veths, DNS, published ports) gets plain BridgeSpec/EndpointSpec
values from here and knows nothing of records. What a running container has
wired (interface per network, published forwards) is kept in its record's
"Internal" part, so stop, disconnect and a restarted daemon undo exactly that.

The default `bridge` network is wired here too, as one more bridge of the
shared namespace (its subnet from networks/default_bridge.py), with one
difference from user networks, as in docker: no names in its DNS, so its
responder only forwards to the host's resolvers. An address is allocated at
start and released at stop (assign_addresses / release_addresses); a given
one (--ip) stays reserved. `--network slirp4netns|pasta` keep a container's
own uplink, run by its monitor (container_spec.network_setup).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from rootless.engine import container_spec, endpoints
from rootless.engine.container_model import Container
from rootless.errors import NotFound, RootlessError
from rootless.networks.store import BRIDGE, Endpoint, Network, NetworkStore
from rootless.runtime.network import rootless_netns
from rootless.runtime.network.host import BridgeSpec, EndpointSpec, NetworkHost, Published
from rootless.runtime.network.slirp import PortMapping

logger = logging.getLogger(__name__)

WIRED_KEY = "networks"  # in the record's Internal (Container.internal): network id -> {"interface", "ipv4"}
PUBLISHED_KEY = "published"  # in the record's Internal: the uplink's forwards
# In the record's Internal: the published ports as start reported them (attach_all's return),
# which inspect shows as NetworkSettings.Ports; written at start by the container service.
REPORTED_KEY = "ports"


def is_user_network_mode(mode: str) -> bool:
    """A NetworkMode naming a network of the store (not bridge/default/host/none/container:/own uplink)."""
    return (mode not in ("", "bridge", "default", "host", "none") and not mode.startswith("container:")
            and not container_spec.is_own_uplink(mode))


def primary_network(container: Container) -> str:
    """The name of the network the container was created on (docker's "default" is the bridge)."""
    mode = container.network_mode
    return BRIDGE if mode in ("", "default") else mode


def shared_uplink(backend: str) -> str:
    """The shared namespace's uplink for the selected backend (network.select_backend): pasta
    only when it is the backend; "auto" picks slirp4netns when installed, as Debian 12's
    pasta (2023) is too old to be the default."""
    return rootless_netns.PASTA if backend == rootless_netns.PASTA else rootless_netns.SLIRP4NETNS


def netns_of(pid: int) -> str:
    return f"/proc/{pid}/ns/net"


class ContainerNetworks:
    """Wires containers onto user networks; one per engine, the NetworkHost made on first use."""

    def __init__(self, store: NetworkStore, state_dir: str,
                 open_host: Optional[Callable[[str], NetworkHost]] = None,
                 uplink: str = rootless_netns.SLIRP4NETNS) -> None:
        self.store = store
        self.state_dir = state_dir  # the shared namespace's (<runtime dir>/netns)
        self._open_host = open_host or functools.partial(rootless_netns.open_network_host, uplink=uplink)
        self._host: Optional[NetworkHost] = None
        self._lock = threading.RLock()

    def host(self) -> NetworkHost:
        """The shared namespace, created or adopted (its uplink and DNS restarted if gone)."""
        with self._lock:
            if self._host is None:
                host = self._open_host(self.state_dir)
                host.ensure()
                self._host = host
            return self._host

    def uplink_in_use(self) -> str:
        """The shared namespace's uplink ("" until it is made or adopted), for info."""
        with self._lock:
            return self._host.uplink if self._host is not None else ""

    def user_networks(self, container: Container) -> List[Network]:
        """The container's networks with a bridge (user ones and the default), its NetworkMode one first."""
        networks = [n for n in self.store.networks_of(container.id) if n.subnet]
        return sorted(networks, key=lambda n: n.name != primary_network(container))

    def setup_for_start(self, container: Container, planned: container_spec.NetworkSetup
                        ) -> container_spec.NetworkSetup:
        """The planned set-up with what start decides: addresses, resolver, the host-gateway address.

        Raises:
            NotFound: a network of the container was removed while it was stopped.
        """
        check_networks_exist(self.store, container)
        network = container_spec.user_network_setup(container, planned)
        if network.monitor_mode != container_spec.USER_NETWORK:
            return network
        self.assign_addresses(container)
        network = container_spec.user_network_setup(container, network)
        if container_spec.wants_host_loopback(container):
            network = dataclasses.replace(network, host_gateway=self.host_gateway())
        return network

    # -- addresses: allocated at start, released at stop (dockerd's endpoint life) -----
    def assign_addresses(self, container: Container) -> None:
        """Before the /etc files are written: an address on every network, in the store and record.

        A bridge container created before the default bridge had endpoints gets one now.
        """
        attached = container.attachments()
        networks = self.store.networks_of(container.id)  # one load answers both questions
        if BRIDGE in attached and all(network.name != BRIDGE for network in networks):
            self.store.connect(BRIDGE, container.id, container.name, allocate=False,
                               ephemeral=container.auto_remove)
            networks = self.store.networks_of(container.id)
        for network in networks:
            if not network.subnet or network.name not in attached:
                continue
            network, endpoint = self.store.assign_address(network.network_id, container.id)
            container.set_attachment(network.name, {**attached[network.name], **endpoints.settings_of(network, endpoint)})

    def release_addresses(self, container: Container) -> None:
        """After the container stopped: its addresses go back to the pools (--ip, --ip6 ones stay)
        and its endpoints are no longer active (not in `network inspect`)."""
        for name, settings in container.attachments().items():
            if not settings.get("NetworkID"):  # host, none, an own uplink: no endpoint in the store
                continue
            try:
                endpoint = self.store.release_address(str(settings["NetworkID"]), container.id)
            except RootlessError as exc:  # the network is gone: so are the addresses
                logger.debug("container %s: release address on %s: %s", container.name, name, exc)
                endpoint = None
            container.set_attachment(name, {**settings, **_addresses_left(settings, endpoint)})

    def host_gateway(self) -> str:
        """The address the shared namespace maps to the host's loopback (--add-host x:host-gateway)."""
        return self.host().host_loopback_address()

    @staticmethod
    def wired(container: Container) -> Dict[str, Dict[str, Any]]:
        return dict(container.internal(WIRED_KEY) or {})

    @staticmethod
    def _set_internal(container: Container, key: str, value: Any) -> None:
        container.set_internal(key, value)

    # -- start and stop ---------------------------------------------------------------
    def attach_all(self, container: Container, pid: int, ports: Sequence[Dict[str, Any]],
                   plan: Optional["AttachPlan"] = None) -> List[Dict[str, Any]]:
        """At start, between `crun create` and `crun start`: every user network, then the ports.

        plan: plan_attach's, made while `crun create` ran (else made now). Returns the
        published ports as the monitor would report them. All or nothing: a failure
        undoes what was wired.
        """
        plan = plan if plan is not None else self.plan_attach(container)
        self._set_internal(container, WIRED_KEY, {})
        self._set_internal(container, PUBLISHED_KEY, [])
        if not plan.steps:
            return []
        try:
            for network, spec in plan.steps:
                self._attach_planned(container, pid, network, spec)
            primary, spec = plan.steps[0]
            if not ports or primary.name != primary_network(container):
                return []
            published = self.host().publish([PortMapping.from_json(dict(p)) for p in ports], spec.ipv4)
            self._set_internal(container, PUBLISHED_KEY, [_published_json(p) for p in published])
            return [p.mapping.to_json() for p in published]
        except BaseException:
            self.detach_all(container)
            raise

    def plan_attach(self, container: Container) -> "AttachPlan":
        """What attach_all wires, decided before the container's namespace exists: its networks
        (a store read), their bridges made or checked, each veth's EndpointSpec. The start
        makes it while `crun create` runs, so that only the kernel's part is left between
        `crun create` and `crun start`."""
        networks = self.user_networks(container)
        steps: List[Tuple[Network, EndpointSpec]] = []
        taken: List[str] = []
        for network in networks:
            spec = self._endpoint_spec(container, network, _free_interface(taken))
            taken.append(spec.interface)
            steps.append((network, spec))
        return AttachPlan(steps)

    def detach_all(self, container: Container, wait: bool = True, release: bool = True) -> None:
        """After the container's process is gone (or a failed start): ports, veths, DNS names,
        then (release) the addresses.

        wait=False: the container is being removed, its veths may go after the answer
        (RootlessNetns.detach); the names and the firewall's entries go now. release=False:
        the removal takes the endpoints, and their addresses with them (disconnect_all).
        """
        published = [_published_of(p) for p in container.internal(PUBLISHED_KEY) or []]
        wired = self.wired(container)
        if published or wired:
            host = self.host()
            host.unpublish(published)
            for network_id, entry in wired.items():
                with contextlib.suppress(RootlessError):
                    host.detach("", EndpointSpec(network_id, container.id, str(entry["ipv4"]), str(entry["interface"]),
                                                 host_loopback=bool(entry.get("loopback"))), wait=wait)
            self._set_internal(container, WIRED_KEY, {})
            self._set_internal(container, PUBLISHED_KEY, [])
        if release:
            self.release_addresses(container)  # once no veth has them any more

    # -- one network ---------------------------------------------------------------------
    def attach(self, container: Container, pid: int, network: Network) -> None:
        """A veth on the network's bridge with the endpoint's address; recorded in the container."""
        wired = self.wired(container)
        spec = self._endpoint_spec(container, network, _free_interface([str(e["interface"]) for e in wired.values()]))
        self._attach_planned(container, pid, network, spec)

    def _endpoint_spec(self, container: Container, network: Network, free_interface: str) -> EndpointSpec:
        """The network's bridge made (or known made), and the container's veth on it as planned."""
        endpoint = network.endpoints[container.id]
        interface = endpoints.interface_of(endpoint, free_interface)
        host = self.host()
        host.create_bridge(BridgeSpec(network.network_id, network.subnet, network.gateway, network.internal,
                                      network.subnet6, network.gateway6))
        # docker's default bridge has no name resolution between containers: no names in its DNS
        names = () if network.name == BRIDGE else (container.name, *endpoint.aliases, container.id[:12])
        primary = network.name == primary_network(container)
        return EndpointSpec(
            network.network_id, container.id, endpoint.ipv4, interface, mac=endpoint.mac_address,
            names=tuple(dict.fromkeys(names)), default_route=primary and not network.internal,
            host_loopback=container_spec.wants_host_loopback(container),
            ipv6=f"{endpoint.ipv6}/{endpoint.prefixlen6}" if endpoint.ipv6 else None)

    def _attach_planned(self, container: Container, pid: int, network: Network, spec: EndpointSpec) -> None:
        self.host().attach(netns_of(pid), spec)
        wired = self.wired(container)
        wired[network.network_id] = {"interface": spec.interface, "ipv4": spec.ipv4, "loopback": spec.host_loopback}
        self._set_internal(container, WIRED_KEY, wired)

    def detach(self, container: Container, network: Network) -> None:
        """Undo attach() of one network (docker network disconnect of a running container)."""
        wired = self.wired(container)
        entry = wired.pop(network.network_id, None)
        if entry is None:
            return
        # published ports forward to the address leaving (the NetworkMode network's): they go
        # too, or the next container given that address would get the host's connections
        published = [_published_of(p) for p in container.internal(PUBLISHED_KEY) or []]
        gone = [p for p in published if p.container_ip == str(entry["ipv4"])]
        host = self.host()
        host.unpublish(gone)
        self._set_internal(container, PUBLISHED_KEY, [_published_json(p) for p in published if p not in gone])
        # inspect shows what is published, as dockerd rebuilds Ports from the endpoints left
        unpublished = [p.mapping.to_json() for p in gone]
        self._set_internal(container, REPORTED_KEY,
                           [p for p in container.internal(REPORTED_KEY) or [] if p not in unpublished])
        host.detach("", EndpointSpec(network.network_id, container.id, str(entry["ipv4"]),
                                     str(entry["interface"]), host_loopback=bool(entry.get("loopback"))))
        self._set_internal(container, WIRED_KEY, wired)

    def adopt(self) -> None:
        """A new daemon: the namespace of the previous one, its uplink and DNS (restarted if gone)."""
        try:
            self.host()
        except RootlessError as exc:
            logger.warning("user networks: can't adopt the shared namespace: %s", exc)

    def remove_bridge(self, network_id: str) -> None:
        """docker network rm: its bridge goes too, or a later network on the same subnet
        would share its route. Nothing to do when the namespace was never made."""
        with self._lock:
            if self._host is None and not os.path.exists(os.path.join(self.state_dir, "netns")):
                return
            self.host().remove_bridge(network_id)


@dataclasses.dataclass
class AttachPlan:
    """plan_attach's answer: each network with the veth to wire on it, the NetworkMode one first."""

    steps: List[Tuple[Network, EndpointSpec]]


def removed_networks(store: NetworkStore, container: Container) -> Dict[str, str]:
    """The container's attachments (name -> network id) whose network is gone: `network rm`
    takes a network while only stopped containers are on it, as dockerd's does."""
    known = {network.network_id for network in store.list()}
    recorded = {name: str(settings.get("NetworkID") or "") for name, settings in container.attachments().items()}
    return {name: network_id for name, network_id in recorded.items() if network_id and network_id not in known}


def check_networks_exist(store: NetworkStore, container: Container) -> None:
    """dockerd's refusal to start a container whose network was removed (in its words: the
    daemon looks the network up by the id recorded, so a new one of the same name is not it)."""
    gone = removed_networks(store, container)
    if gone:
        name, network_id = next(iter(gone.items()))
        raise NotFound(f"failed to set up container networking: network {network_id} not found",
                       hint=f"docker network disconnect {name} {container.name}, then connect it to a network")


def _addresses_left(settings: Dict[str, Any], endpoint: Optional[Endpoint]) -> Dict[str, Any]:
    """The record's addresses once released: the given ones only (a MAC derived from the IPv4 goes with it)."""
    left: Dict[str, Any] = {"IPAddress": "", "IPPrefixLen": 0, "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                            "IPv6Gateway": "", "MacAddress": settings.get("ConfiguredMacAddress") or ""}
    if endpoint is not None and endpoint.ipv4:
        left.update(IPAddress=endpoint.ipv4, IPPrefixLen=endpoint.prefixlen, MacAddress=endpoint.mac_address)
    if endpoint is not None and endpoint.ipv6:
        left.update(GlobalIPv6Address=endpoint.ipv6, GlobalIPv6PrefixLen=endpoint.prefixlen6,
                    IPv6Gateway=settings.get("IPv6Gateway") or "")
    return left


def _free_interface(taken: Sequence[str]) -> str:
    index = 0
    while f"eth{index}" in taken:
        index += 1
    return f"eth{index}"


def _published_json(published: Published) -> Dict[str, Any]:
    return {**published.mapping.to_json(), "container_ip": published.container_ip,
            "forward_id": published.forward_id}


def _published_of(data: Dict[str, Any]) -> Published:
    return Published(PortMapping.from_json(data), str(data.get("container_ip") or ""),
                     int(data.get("forward_id") or 0))
