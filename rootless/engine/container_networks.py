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

A container on bridges gets its network namespace from the engine, as from
podman: right before the launch, start_netns has a thread make it, bind it
at <state dir>/containers/<id> and wire its veths while conmon launches;
`crun create` joins it by that path, and `crun start` waits for the wiring
(finish_early). The file goes once crun create joined it (the namespace
thread removes it: at the exit, the kernel's teardown of the namespace
landed on the `run --rm` answer, +5 ms measured), after a failed start
(detach_all) and, after a daemon was killed, at the next daemon start
(remove_netns_files). An own uplink's
monitor and `network connect` of a running container still wire by the
container's pid (attach_all, attach).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence

from rootless.engine import container_spec, endpoints
from rootless.engine.container_model import Container
from rootless.errors import NotFound, RootlessError
from rootless.networks.store import BRIDGE, Endpoint, Network, NetworkStore
from rootless.runtime.network import rootless_netns
from rootless.runtime.network.host import BridgeSpec, EndpointSpec, NetnsJob, NetworkHost, Published
from rootless.runtime.network.slirp import PortMapping
from rootless.util import fs

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


NETNS_DIR = "containers"  # under the shared namespace's state dir: make_netns's files, by container id


def netns_of(pid: int) -> str:
    return f"/proc/{pid}/ns/net"


class EarlyNetns:
    """make_netns's namespace: its file, the networks with the addresses of this start (from
    setup_for_start), its thread once start_netns began it and, as that thread wires them, what
    the record will keep (network id -> {"interface", "ipv4", "loopback"})."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.networks: List[Network] = []
        self.wired: Dict[str, Dict[str, Any]] = {}
        self.job: Optional[NetnsJob] = None


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

    def setup_for_start(self, container: Container, planned: container_spec.NetworkSetup,
                        early: Optional[EarlyNetns] = None) -> container_spec.NetworkSetup:
        """The planned set-up with what start decides: addresses, resolver, the host-gateway address;
        early (make_netns) gets the networks with their addresses.

        Raises:
            NotFound: a network of the container was removed while it was stopped.
        """
        check_networks_exist(self.store, container)
        network = container_spec.user_network_setup(container, planned)
        if network.monitor_mode != container_spec.USER_NETWORK:
            return network
        networks = self.assign_addresses(container)
        if early is not None:  # user_networks' order without reading the store again
            early.networks = sorted(networks, key=lambda n: n.name != primary_network(container))
        network = container_spec.user_network_setup(container, network)
        if container_spec.wants_host_loopback(container):
            network = dataclasses.replace(network, host_gateway=self.host_gateway())
        return network

    # -- addresses: allocated at start, released at stop (dockerd's endpoint life) -----
    def assign_addresses(self, container: Container) -> List[Network]:
        """Before the /etc files are written: an address on every network, in the store and record.
        The container's networks with a bridge as they are now (user_networks, unsorted).

        A bridge container created before the default bridge had endpoints gets one now.
        """
        attached = container.attachments()
        if BRIDGE in attached and container.id not in self.store.get(BRIDGE).endpoints:
            self.store.connect(BRIDGE, container.id, container.name, allocate=False,
                               ephemeral=container.auto_remove)
        networks = []
        for network in self.store.networks_of(container.id):
            if network.subnet and network.name in attached:
                network, endpoint = self.store.assign_address(network.network_id, container.id)
                container.set_attachment(network.name, {**attached[network.name],
                                                        **endpoints.settings_of(network, endpoint)})
            if network.subnet:
                networks.append(network)
        return networks

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
    def attach_all(self, container: Container, pid: int, ports: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """At start, between `crun create` and `crun start`: every user network, then the ports
        (the containers make_netns does not wire: an own uplink's monitor, an older start).

        Returns the published ports as the monitor would report them. All or
        nothing: a failure undoes what was wired.
        """
        networks = self.user_networks(container)
        self._set_internal(container, WIRED_KEY, {})
        self._set_internal(container, PUBLISHED_KEY, [])
        if not networks:
            return []
        try:
            for network in networks:
                self.attach(container, pid, network)
            return self._publish(container, networks, ports)
        except BaseException:
            self.detach_all(container)
            raise

    def _publish(self, container: Container, networks: Sequence[Network],
                 ports: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """The ports, forwarded to the address on the NetworkMode network (wired already)."""
        if not ports or not networks or networks[0].name != primary_network(container):
            return []
        address = networks[0].endpoints[container.id].ipv4
        published = self.host().publish([PortMapping.from_json(dict(p)) for p in ports], address)
        self._set_internal(container, PUBLISHED_KEY, [_published_json(p) for p in published])
        return [p.mapping.to_json() for p in published]

    # -- the container's own namespace, made before `crun create` -----------------------
    def netns_file(self, container_id: str) -> str:
        return os.path.join(self.state_dir, NETNS_DIR, container_id)

    def make_netns(self, container: Container) -> EarlyNetns:
        """The container's own network namespace, to be made before `crun create` (which joins it
        by path): setup_for_start fills in the networks, start_netns makes and wires it, then
        finish_early, or record_early when the start failed."""
        return EarlyNetns(self.netns_file(container.id))

    def start_netns(self, container: Container, early: EarlyNetns) -> str:
        """Right before the monitor's launch: the bridges checked on this thread (the fast path:
        starts since the daemon's made them), then NetworkHost.new_netns's thread binds the
        namespace and, while conmon and crun run, wires a veth per network. Its path, once bound.

        Not earlier: a second thread running Python beside this one's costs this one more than
        it saves (the GIL; measured, bench/README.md), while the launch's wait for conmon is idle.
        """
        host = self.host()
        for network in early.networks:
            host.create_bridge(_bridge_spec(network))
        fs.ensure_dir(os.path.dirname(early.path))
        early.job = host.new_netns(early.path, functools.partial(self._wire_early, container, early))
        return early.job.bound()

    def _wire_early(self, container: Container, early: EarlyNetns) -> None:
        """On the NewNetns thread, in the new namespace: a veth per network, each as it is made
        in early.wired (the record gets them on the start's thread)."""
        for network in early.networks:  # their bridges checked by start_netns
            early.wired[network.network_id] = self._attach_endpoint(container, early.path, network, early.wired,
                                                                    make_bridge=False)

    def finish_early(self, container: Container, early: EarlyNetns,
                     ports: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """After `crun create` joined the namespace: the wiring's outcome in the record, then the
        ports; attach_all's return. A failure is undone (detach_all) and raised."""
        try:
            self.record_early(container, early, check=True)
            return self._publish(container, early.networks, ports)
        except BaseException:
            self.detach_all(container)
            raise

    def record_early(self, container: Container, early: EarlyNetns, check: bool = False) -> None:
        """Wait for make_netns's thread; what it wired goes into the record, where stop and a
        failed start undo it from (detach_all; also the namespace file). check: raise its error."""
        error: Optional[BaseException] = None
        try:
            if early.job is not None:
                early.job.wait()
        except BaseException as exc:  # recorded first, then raised or logged
            error = exc
        self._set_internal(container, WIRED_KEY, dict(early.wired))
        self._set_internal(container, PUBLISHED_KEY, [])
        if error is not None and check:
            raise error
        if error is not None:
            logger.debug("container %s: network namespace: %s", container.name, error)

    def remove_netns_files(self) -> None:
        """At daemon start, before any start: the namespace files a killed daemon left."""
        rootless_netns.remove_netns_files(os.path.join(self.state_dir, NETNS_DIR))

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
        # the file make_netns bound, if a failed start left it (else its thread removed it)
        rootless_netns.remove_netns_file(self.netns_file(container.id))
        if release:
            self.release_addresses(container)  # once no veth has them any more

    # -- one network ---------------------------------------------------------------------
    def attach(self, container: Container, pid: int, network: Network) -> None:
        """A veth on the network's bridge with the endpoint's address; recorded in the container."""
        wired = self.wired(container)
        wired[network.network_id] = self._attach_endpoint(container, netns_of(pid), network, wired)
        self._set_internal(container, WIRED_KEY, wired)

    def _attach_endpoint(self, container: Container, netns: str, network: Network,
                         wired: Dict[str, Dict[str, Any]], make_bridge: bool = True) -> Dict[str, Any]:
        """attach() into the namespace at netns; what the record keeps of it."""
        endpoint = network.endpoints[container.id]
        interface = endpoints.interface_of(endpoint, _free_interface([str(e["interface"]) for e in wired.values()]))
        host = self.host()
        if make_bridge:
            host.create_bridge(_bridge_spec(network))
        # docker's default bridge has no name resolution between containers: no names in its DNS
        names = () if network.name == BRIDGE else (container.name, *endpoint.aliases, container.id[:12])
        primary = network.name == primary_network(container)
        loopback = container_spec.wants_host_loopback(container)
        host.attach(netns, EndpointSpec(
            network.network_id, container.id, endpoint.ipv4, interface, mac=endpoint.mac_address,
            names=tuple(dict.fromkeys(names)), default_route=primary and not network.internal,
            host_loopback=loopback, ipv6=f"{endpoint.ipv6}/{endpoint.prefixlen6}" if endpoint.ipv6 else None))
        return {"interface": interface, "ipv4": endpoint.ipv4, "loopback": loopback}

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


def _bridge_spec(network: Network) -> BridgeSpec:
    return BridgeSpec(network.network_id, network.subnet, network.gateway, network.internal,
                      network.subnet6, network.gateway6)


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
