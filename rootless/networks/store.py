"""Network objects: records, subnets and endpoints; no plumbing.

The runtime (runtime/network/) turns a container's networks into slirp4netns
or pasta; this module only remembers which networks exist and which
container sits on which with what name, aliases and address. Layout:
<paths.networks>/<network-id>.json per network, predefined ones included.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import ipaddress
import json
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, TypeVar

from rootless.config.paths import Paths
from rootless.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from rootless.networks import default_bridge, ipam
from rootless.util import fs
from rootless.wire import filters as f
from rootless.wire.times import SECONDS, now_rfc3339, parse_rfc3339_ns

logger = logging.getLogger(__name__)

BRIDGE, HOST, NULL = "bridge", "host", "null"
PREDEFINED = ("bridge", "host", "none")
# moby 28 takes any name that is not blank (libnetwork NewNetwork: "invalid name: name is
# empty"); we also refuse control characters, which would corrupt `network ls` and logs.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
LIST_FILTERS = ("name", "id", "label", "label!", "driver", "type", "dangling", "scope")
PRUNE_FILTERS = ("label", "label!", "until")


Subnet = TypeVar("Subnet", ipaddress.IPv4Network, ipaddress.IPv6Network)
# A file's version as stat shows it: an atomic replace changes the inode, an edit in place
# the times (and mostly the size). NetworkStore._cached_record serves a parsed file again
# while its key is unchanged.
StatKey = Tuple[int, int, int, int]
# A file whose ctime is this close to the time it was read is read again next time
# (git's "racy clean" entries): a change in the same clock tick, or within the
# filesystem's timestamp granularity (1 s on ext4 with small inodes, 2 s on FAT), may
# leave its stat unchanged. Older files differ from any later change of theirs (short of
# the clock stepped back into the same nanosecond, with inode, size and mtime matching too).
RACY_NS = 3 * 1_000_000_000


@dataclass
class Endpoint:
    """One container on one network."""

    container_id: str
    name: str
    endpoint_id: str
    ipv4: str = ""
    prefixlen: int = 0
    aliases: List[str] = field(default_factory=list)
    ipv6: str = ""
    prefixlen6: int = 0
    mac: str = ""  # asked for (--mac-address); "" : derived from ipv4 (mac_address)
    ipam_config: Dict[str, Any] = field(default_factory=dict)  # EndpointIPAMConfig as asked
    driver_opts: Dict[str, str] = field(default_factory=dict)
    links: List[str] = field(default_factory=list)  # "container:alias", as docker keeps them
    # --ip: the address stays reserved while the container is stopped; others are
    # released at stop and allocated again at start, as dockerd does.
    static: bool = False
    # Running on the network (an address allocated, a veth): dockerd has an endpoint only
    # then, and `network inspect` lists only those containers.
    active: bool = False
    # A --rm container's endpoint: kept in the network's side file (<id>.ephemeral), written
    # without fsync, so its connect, address and disconnect cost no fsync of the shared record.
    ephemeral: bool = False

    @property
    def static6(self) -> bool:
        """--ip6: the IPv6 address stays reserved while the container is stopped."""
        return bool(self.ipam_config.get("IPv6Address"))

    @property
    def mac_address(self) -> str:
        """The MAC the veth gets: the one asked for, else docker's 02:42 + IPv4 bytes."""
        return self.mac or ipam.mac_for(self.ipv4)

    def to_json(self) -> Dict[str, Any]:
        """The entry of a network's "Containers" map."""
        return {
            "Name": self.name,
            "EndpointID": self.endpoint_id,
            "MacAddress": self.mac_address,
            "IPv4Address": f"{self.ipv4}/{self.prefixlen}" if self.ipv4 else "",
            "IPv6Address": f"{self.ipv6}/{self.prefixlen6}" if self.ipv6 else "",
        }

    def to_record(self) -> Dict[str, Any]:
        return {**self.to_json(), "Aliases": list(self.aliases), "Mac": self.mac,
                "IPAMConfig": dict(self.ipam_config), "DriverOpts": dict(self.driver_opts),
                "Links": list(self.links), "Static": self.static, "Active": self.active}

    @classmethod
    def from_record(cls, container_id: str, data: Mapping[str, Any]) -> "Endpoint":
        ipv4, _, prefix = str(data.get("IPv4Address") or "").partition("/")
        ipv6, _, prefix6 = str(data.get("IPv6Address") or "").partition("/")
        return cls(container_id, data["Name"], data["EndpointID"], ipv4,
                   int(prefix or 0), list(data.get("Aliases") or []), ipv6, int(prefix6 or 0),
                   str(data.get("Mac") or ""), copy.deepcopy(dict(data.get("IPAMConfig") or {})),
                   f.copy_labels(data.get("DriverOpts") or {}), [str(x) for x in data.get("Links") or []],
                   bool(data.get("Static")), bool(data.get("Active", bool(ipv4))))


@dataclass(frozen=True)
class EndpointDetails:
    """What a connect asks for beyond name, aliases and IPv4 (docker's EndpointSettings)."""

    ipv6: Optional[str] = None
    mac: str = ""
    ipam_config: Mapping[str, Any] = field(default_factory=dict)
    driver_opts: Mapping[str, str] = field(default_factory=dict)
    links: Sequence[str] = ()


@dataclass
class Network:
    """A network record with docker's field names in to_json()."""

    name: str
    network_id: str
    created: str
    driver: str = BRIDGE
    subnet: str = ""
    gateway: str = ""
    internal: bool = False
    attachable: bool = False
    labels: Dict[str, str] = field(default_factory=dict)
    options: Dict[str, str] = field(default_factory=dict)
    endpoints: Dict[str, Endpoint] = field(default_factory=dict)
    subnet6: str = ""  # set: an IPv6 network (EnableIPv6), its containers get an address in it too
    gateway6: str = ""
    ip_range: str = ""  # set: dynamic IPv4 addresses come only from this CIDR inside subnet (--ip-range)

    @property
    def is_predefined(self) -> bool:
        return self.name in PREDEFINED

    def active_endpoints(self) -> List[Endpoint]:
        """The running containers' endpoints: dockerd has endpoints only for those, so only
        they keep the network in use (rm, prune, dangling); a stopped container's attachment
        does not, and its next start fails once the network is gone."""
        return [endpoint for endpoint in self.endpoints.values() if endpoint.active]

    def ipam_config(self) -> List[Dict[str, str]]:
        configs = [{"Subnet": self.subnet, "Gateway": self.gateway}] if self.subnet else []
        if configs and self.ip_range:
            configs[0]["IPRange"] = self.ip_range
        return configs + ([{"Subnet": self.subnet6, "Gateway": self.gateway6}] if self.subnet6 else [])

    def to_json(self) -> Dict[str, Any]:
        return {
            "Name": self.name, "Id": self.network_id, "Created": self.created, "Scope": "local",
            "Driver": self.driver, "EnableIPv4": True, "EnableIPv6": bool(self.subnet6),
            "IPAM": {"Driver": "default", "Options": None, "Config": self.ipam_config()},
            "Internal": self.internal, "Attachable": self.attachable, "Ingress": False,
            "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
            "Containers": {cid: ep.to_json() for cid, ep in self.endpoints.items() if ep.active},
            "Options": dict(self.options), "Labels": dict(self.labels),
        }

    def to_record(self) -> Dict[str, Any]:
        """The durable record: every endpoint but the ephemeral ones (ephemeral_record)."""
        doc = self.to_json()
        doc["Containers"] = {cid: ep.to_record() for cid, ep in self.endpoints.items() if not ep.ephemeral}
        return doc

    def ephemeral_record(self) -> Dict[str, Any]:
        """The side file: the --rm containers' endpoints."""
        return {cid: ep.to_record() for cid, ep in self.endpoints.items() if ep.ephemeral}

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> "Network":
        configs = (data.get("IPAM") or {}).get("Config") or []
        config: Mapping[str, str] = next((c for c in configs if not ipam.is_ipv6(c.get("Subnet", ""))), {})
        config6: Mapping[str, str] = next((c for c in configs if ipam.is_ipv6(c.get("Subnet", ""))), {})
        return cls(
            name=data["Name"], network_id=data["Id"], created=data["Created"], driver=data["Driver"],
            subnet=config.get("Subnet", ""), gateway=config.get("Gateway", ""),
            subnet6=config6.get("Subnet", ""), gateway6=config6.get("Gateway", ""),
            ip_range=config.get("IPRange", ""),
            internal=bool(data.get("Internal")), attachable=bool(data.get("Attachable")),
            labels=f.copy_labels(data.get("Labels") or {}), options=f.copy_labels(data.get("Options") or {}),
            endpoints={cid: Endpoint.from_record(cid, ep) for cid, ep in (data.get("Containers") or {}).items()},
        )


@functools.lru_cache(maxsize=None)
def predefined_id(name: str) -> str:
    return hashlib.sha256(f"rootless predefined network {name}".encode()).hexdigest()


def predefined_networks(created: str, bridge_subnet: ipaddress.IPv4Network) -> List[Network]:
    """bridge (on bridge_subnet, default_bridge.choose_subnet), host and none, with ids that
    are the same on every start."""
    network_id = predefined_id
    bridge_options = {"com.docker.network.bridge.default_bridge": "true"}
    return [
        Network("bridge", network_id("bridge"), created, BRIDGE, str(bridge_subnet),
                ipam.default_gateway(bridge_subnet), options=bridge_options),
        Network("host", network_id("host"), created, HOST),
        Network("none", network_id("none"), created, NULL),
    ]


def check_name(name: str) -> None:
    """moby's rule (any name that is not blank), and no control characters."""
    if not (name or "").strip():
        raise InvalidArgument("invalid name: name is empty")
    if CONTROL_RE.search(name):
        raise InvalidArgument(f"create network: invalid name {name!r}: control characters are not allowed")
    if name in PREDEFINED:
        raise PermissionDenied(f"create network {name}: operation is not permitted on predefined {name} network")
    if name in ("slirp4netns", "pasta"):  # --network slirp4netns|pasta name a container's own uplink
        raise PermissionDenied(f"create network {name}: the name is a network mode (a container's own {name})")


def _check_driver(name: str, driver: str) -> None:
    if driver in (HOST, NULL):
        raise PermissionDenied(f'create network {name}: only one instance of "{driver}" network is allowed')
    if driver != BRIDGE:
        raise InvalidArgument(f"create network {name}: network driver {driver} is not supported",
                              hint="use the bridge driver")


class NetworkStore:
    """create / get / list / remove / connect / disconnect of network records."""

    def __init__(self, paths: Paths,
                 host_routes: Callable[[], List[ipaddress.IPv4Network]] = default_bridge.read_host_routes) -> None:
        self.root = paths.networks
        self.host_routes = host_routes  # what the default bridge's subnet must not shadow
        self.lock_path = os.path.join(self.root, ".lock")
        # Parsed records and side files by file name, with the stat key they had when read
        # (_cached_record); used under the lock only, so threads don't race on it.
        self._cache: Dict[str, Tuple[StatKey, Any]] = {}
        # Removed containers whose endpoints are not written away yet (leave): every load
        # leaves them out. Changed by single set operations (atomic under the GIL).
        self._leaving: Set[str] = set()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = fs.FileLock(self.lock_path)
        try:
            lock.acquire()
        except FileNotFoundError:  # no directory yet: made only then, not stat'ed on every call
            fs.ensure_dir(self.root)
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def _path(self, network_id: str) -> str:
        return os.path.join(self.root, f"{network_id}.json")

    def _ephemeral_path(self, network_id: str) -> str:
        return os.path.join(self.root, f"{network_id}.ephemeral")  # not *.json: not a network of its own

    def _save(self, network: Network) -> None:
        fs.atomic_write_json(self._path(network.network_id), network.to_record())

    def _save_ephemeral(self, network: Network) -> None:
        """The --rm containers' endpoints, without fsync: a power cut may lose the file or leave it
        torn (read as empty, _read_ephemeral) or left behind (drop_orphans at the next start); the
        containers it describes are not durable either (container_model: their records have no fsync)."""
        record = network.ephemeral_record()
        if record:
            fs.atomic_write_json(self._ephemeral_path(network.network_id), record, 0o600, durable=False)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._ephemeral_path(network.network_id))

    def _save_endpoint(self, network: Network, endpoint: Endpoint) -> None:
        """After a change of one endpoint: only the file that holds it."""
        if endpoint.ephemeral:
            self._save_ephemeral(network)
        else:
            self._save(network)

    def _read_ephemeral(self, network: Network, files: Mapping[str, StatKey]) -> None:
        """Add the side file's endpoints (if files, the scan, lists it); a torn one (power cut)
        counts as empty."""
        name = f"{network.network_id}.ephemeral"  # _ephemeral_path's
        if name not in files:
            return
        try:
            data = self._cached_record(name, files[name]) or {}
            found = {cid: Endpoint.from_record(cid, ep) for cid, ep in dict(data).items()}
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            logger.warning("network %s: ignoring a torn %s: %s", network.name, name, exc)
            return
        for cid, endpoint in found.items():
            endpoint.ephemeral = True
            network.endpoints.setdefault(cid, endpoint)

    def _scan(self) -> Dict[str, StatKey]:
        """The records and side files with their stat keys; cached files no longer there are forgotten."""
        files = {}
        with os.scandir(self.root) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.name.endswith((".json", ".ephemeral")):
                    continue
                with contextlib.suppress(FileNotFoundError):  # removed meanwhile: as if never listed
                    files[entry.name] = fs.stat_identity(entry.stat())
        for gone in [name for name in self._cache if name not in files]:
            del self._cache[gone]
        return files

    def _cached_record(self, name: str, key: StatKey) -> Any:
        """A file's parsed JSON (None when gone): from the cache while its stat key is unchanged.

        Correct for any writer, not only this store (another process, a person, a backup
        restored): what decides is the file's stat, not who wrote it. The cached document
        is never handed out; callers build fresh objects from it (Network.from_record).
        """
        cached = self._cache.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        self._cache.pop(name, None)
        started = time.time_ns()
        read = self._read_record(os.path.join(self.root, name))
        if read is None:
            return None
        if read[0][3] < started - RACY_NS:  # ctime: see RACY_NS
            self._cache[name] = read
        return read[1]

    @staticmethod
    def _read_record(path: str) -> Optional[Tuple[StatKey, Any]]:
        """A file's stat key and parsed JSON, None when it does not exist. The key comes
        before the read: a change in between leaves the key older than the content read,
        so the next scan sees another key and reads it again."""
        try:
            with open(path, "rb") as file:
                key = fs.stat_identity(os.fstat(file.fileno()))
                return key, json.load(file)
        except FileNotFoundError:
            return None

    def _load_all(self, leaving: str = "") -> List[Network]:
        """Every network, predefined ones first (written on first use); the caller holds the lock.

        Without the endpoints of containers that leave (leave()), except leaving's.
        """
        files = self._scan()
        found: Dict[str, Network] = {}
        for entry in sorted(files):
            if entry.endswith(".json"):
                data = self._cached_record(entry, files[entry])
                if data is not None:
                    network = Network.from_record(data)
                    found[network.network_id] = network
                    self._read_ephemeral(network, files)
        hidden = self._leaving - {leaving}
        if hidden:
            for network in found.values():
                for container_id in hidden.intersection(network.endpoints):
                    del network.endpoints[container_id]
        self._ensure_predefined(found)
        return sorted(found.values(), key=lambda n: (not n.is_predefined, n.created, n.name))

    def _ensure_predefined(self, found: Dict[str, Network]) -> None:
        """Write the predefined networks that are missing, and move a legacy bridge to a real subnet."""
        bridge = found.get(predefined_id(BRIDGE))
        legacy = bridge is None or default_bridge.is_legacy(bridge.subnet)
        if not legacy and all(predefined_id(name) in found for name in PREDEFINED):
            return  # every load but the first few: no subnet to parse, nothing to write
        subnet = (self._bridge_subnet(found.values()) if bridge is None or legacy
                  else ipam.parse_subnet(bridge.subnet))
        for network in predefined_networks(now_rfc3339(SECONDS), subnet):
            if network.network_id not in found:
                self._save(network)
                found[network.network_id] = network
        if bridge is not None and legacy:
            self._upgrade_bridge(bridge, subnet)

    def _bridge_subnet(self, networks: Iterable[Network]) -> ipaddress.IPv4Network:
        users = [ipam.parse_subnet(n.subnet) for n in networks if n.subnet and not n.is_predefined]
        return default_bridge.choose_subnet([*self.host_routes(), *users])

    def _upgrade_bridge(self, bridge: Network, subnet: ipaddress.IPv4Network) -> None:
        """A record from the per-container slirp4netns days: a real subnet, no stale addresses.

        Its containers get an address at their next start; one still running
        from before keeps its own slirp4netns until it stops.
        """
        bridge.subnet, bridge.gateway = str(subnet), ipam.default_gateway(subnet)
        for endpoint in bridge.endpoints.values():
            endpoint.ipv4, endpoint.prefixlen, endpoint.static = "", 0, False
        self._save(bridge)
        self._save_ephemeral(bridge)
        logger.info("default bridge network: now on %s", subnet)

    @staticmethod
    def _find(networks: Sequence[Network], ref: str) -> Network:
        """By exact name, then exact id, then unique id prefix (docker's order)."""
        exact = [n for n in networks if n.name == ref] or [n for n in networks if n.network_id == ref]
        if exact:
            return exact[0]
        matches = [n for n in networks if ref and n.network_id.startswith(ref)]
        if len(matches) > 1:
            raise InvalidArgument(f"network {ref} is ambiguous ({len(matches)} matches found based on ID prefix)")
        if not matches:
            raise NotFound(f"network {ref} not found")
        return matches[0]

    def get(self, ref: str) -> Network:
        """A network by name, id or id prefix; NotFound "network x not found"."""
        with self._locked():
            return self._find(self._load_all(), ref)

    def create(self, name: str, driver: str = BRIDGE, subnet: Optional[str] = None,
               gateway: Optional[str] = None, labels: Optional[Mapping[str, str]] = None,
               internal: bool = False, attachable: bool = False,
               options: Optional[Mapping[str, str]] = None, ipv6: bool = False,
               subnet6: Optional[str] = None, gateway6: Optional[str] = None,
               ip_range: Optional[str] = None) -> Network:
        """A new custom network; a subnet from 10.89.0.0/16 when none is given.

        ipv6 (docker's EnableIPv6): an IPv6 subnet too, subnet6 or a /64 of fd89:89::/48.
        ip_range (--ip-range): a CIDR inside the IPv4 subnet that dynamic addresses come from.
        """
        check_name(name)
        _check_driver(name, driver or BRIDGE)
        if subnet6 and not ipv6:
            raise InvalidArgument(f"create network {name}: IPv6 subnet {subnet6} given but IPv6 is not enabled",
                                  hint="add --ipv6 (EnableIPv6: true)")
        with self._locked():
            networks = self._load_all()
            if any(n.name == name for n in networks):
                raise AlreadyExists(f"network with name {name} already exists")
            chosen = self._choose_subnet(networks, subnet)
            gw = ipam.parse_host_address(chosen, gateway, "gateway") if gateway else ipam.default_gateway(chosen)
            network = Network(name, secrets.token_hex(32), now_rfc3339(SECONDS), BRIDGE, str(chosen), gw,
                              internal, attachable, f.copy_labels(labels or {}), f.copy_labels(options or {}))
            network.ip_range = str(ipam.parse_ip_range(chosen, ip_range)) if ip_range else ""
            if ipv6:
                chosen6 = self._choose_subnet6(networks, subnet6)
                network.subnet6 = str(chosen6)
                network.gateway6 = (ipam.parse_host_address(chosen6, gateway6, "gateway") if gateway6
                                    else ipam.default_gateway(chosen6))
            self._save(network)
        logger.info("created network %s (%s)", name, network.subnet)
        return network

    @staticmethod
    def _choose_subnet(networks: Sequence[Network], subnet: Optional[str]) -> ipaddress.IPv4Network:
        taken = {n.name: ipam.parse_subnet(n.subnet) for n in networks if n.subnet}  # the bridge's too
        if not subnet:
            return ipam.allocate_subnet(taken.values())
        wanted = ipam.parse_subnet(subnet)
        return _no_overlap(wanted, taken)

    @staticmethod
    def _choose_subnet6(networks: Sequence[Network], subnet6: Optional[str]) -> ipaddress.IPv6Network:
        taken = {n.name: ipam.parse_subnet6(n.subnet6) for n in networks if n.subnet6}
        if not subnet6:
            return ipam.allocate_subnet6(taken.values())
        wanted = ipam.parse_subnet6(subnet6)
        return _no_overlap(wanted, taken)

    def list(self, filters: Optional[Mapping[str, List[str]]] = None) -> List[Network]:
        """Networks matching docker's filters (name, id, label, driver, type, dangling)."""
        filters = filters or {}
        f.validate(filters, LIST_FILTERS)
        for kind in filters.get("type", []):
            if kind not in ("custom", "builtin"):
                raise InvalidArgument(f"invalid filter: 'type'='{kind}'", hint="use type=custom or type=builtin")
        dangling = f.get_bool(filters, "dangling") if "dangling" in filters else None
        with self._locked():
            networks = self._load_all()
        return [n for n in networks if _matches(n, filters, dangling)]

    def remove(self, ref: str) -> Network:
        """Delete a custom network no running container is on; returns what was removed.

        Stopped containers' endpoints go with it (their records keep the
        attachment, as dockerd's do).
        """
        with self._locked():
            network = self._find(self._load_all(), ref)
            if network.is_predefined:
                raise PermissionDenied(f"{network.name} is a pre-defined network and cannot be removed")
            active = network.active_endpoints()
            if active:  # dockerd's words and kind (libnetwork ActiveEndpointsError: Forbidden, 403)
                listed = ", ".join(f'name:"{ep.name}" id:"{ep.endpoint_id[:12]}"' for ep in active)
                raise PermissionDenied(f"error while removing network: network {network.name} has active "
                                       f"endpoints ({listed})",
                                       hint="stop the containers on it, or disconnect them first")
            # The side file first: killed in between, the network stays whole (drop_orphans
            # would take a side file left without its record).
            with contextlib.suppress(FileNotFoundError):  # stopped --rm containers' endpoints
                os.unlink(self._ephemeral_path(network.network_id))
            os.unlink(self._path(network.network_id))
        logger.info("removed network %s", network.name)
        return network

    def prune(self, filters: Optional[Mapping[str, List[str]]] = None) -> List[str]:
        """Remove custom networks no container is on; returns their names.

        Filters as moby's network prune: label, label!, until (created before).
        """
        filters = filters or {}
        f.validate(filters, PRUNE_FILTERS)
        until_ns = f.get_until_ns(filters)
        deleted = []
        for network in self.list({k: v for k, v in filters.items() if k != "until"}):
            if network.is_predefined or network.active_endpoints():
                continue
            if until_ns is not None and parse_rfc3339_ns(network.created) > until_ns:
                continue
            with contextlib.suppress(NotFound, PermissionDenied):  # gone, or a container started meanwhile
                self.remove(network.network_id)
                deleted.append(network.name)
        return deleted

    # -- endpoints ------------------------------------------------------------

    def connect(self, ref: str, container_id: str, name: str, aliases: Sequence[str] = (),
                ipv4: Optional[str] = None, details: Optional[EndpointDetails] = None,
                allocate: bool = True, ephemeral: bool = False) -> Endpoint:
        """Put a container on a network; an IPv4 address is allocated unless ipv4 is given
        (kept while it is stopped: static) or allocate is False (assign_address at start).
        ephemeral: a --rm container's endpoint, written without fsync (_save_ephemeral).

        details: the rest of docker's EndpointSettings (--ip6, --mac-address,
        driver options, links).
        """
        details = details or EndpointDetails()
        with self._locked():
            networks = self._load_all()
            network = self._find(networks, ref)
            if container_id in network.endpoints:
                raise Conflict(f"endpoint with name {name} already exists in network {network.name}")
            _check_exclusive(network, [n for n in networks if container_id in n.endpoints])
            address, prefixlen = self._address_for(network, ipv4) if ipv4 or allocate else ("", 0)
            address6, prefixlen6 = (self._address6_for(network, details.ipv6) if details.ipv6 or allocate
                                    else ("", 0))
            endpoint = Endpoint(container_id, name, secrets.token_hex(32), address, prefixlen,
                                list(dict.fromkeys(aliases)), address6, prefixlen6,
                                ipam.parse_mac(details.mac) if details.mac else "", dict(details.ipam_config),
                                dict(details.driver_opts), list(details.links), static=bool(ipv4), active=allocate,
                                ephemeral=ephemeral)
            network.endpoints[container_id] = endpoint
            self._save_endpoint(network, endpoint)
        return endpoint

    @staticmethod
    def _address6_for(network: Network, ipv6: Optional[str]) -> Tuple[str, int]:
        if not network.subnet6:
            if ipv6:
                raise InvalidArgument(f"connect to {network.name}: network has no IPv6 subnet for address {ipv6}",
                                      hint="create the network with --ipv6")
            return "", 0
        subnet = ipam.parse_subnet6(network.subnet6)
        taken = {network.gateway6} | {ep.ipv6 for ep in network.endpoints.values()}
        if not ipv6:
            return ipam.allocate_address(subnet, taken), subnet.prefixlen
        address = ipam.parse_host_address(subnet, ipv6, "address")
        if address in taken:
            raise Conflict(f"connect to {network.name}: address {address} is already in use")
        return address, subnet.prefixlen

    @staticmethod
    def _address_for(network: Network, ipv4: Optional[str]) -> Tuple[str, int]:
        if not network.subnet:
            if ipv4:
                raise InvalidArgument(f"connect to {network.name}: network has no subnet for address {ipv4}")
            return "", 0
        subnet = ipam.parse_subnet(network.subnet)
        taken = {network.gateway} | {ep.ipv4 for ep in network.endpoints.values()}
        if not ipv4:  # a static --ip may lie anywhere in the subnet, as with dockerd
            ip_range = ipam.parse_ip_range(subnet, network.ip_range) if network.ip_range else None
            return ipam.allocate_address(subnet, taken, ip_range), subnet.prefixlen
        address = ipam.parse_host_address(subnet, ipv4, "address")
        if address in taken:
            raise Conflict(f"connect to {network.name}: address {address} is already in use")
        return address, subnet.prefixlen

    def assign_address(self, ref: str, container_id: str) -> Tuple[Network, Endpoint]:
        """At start: the endpoint's addresses, allocated now unless it has them (static, or still held)."""
        with self._locked():
            network = self._find(self._load_all(), ref)
            endpoint = network.endpoints.get(container_id)
            if endpoint is None:
                raise NotFound(f"assign address on {network.name}: container {container_id} is not connected")
            if not endpoint.ipv4 and network.subnet:
                endpoint.ipv4, endpoint.prefixlen = self._address_for(network, None)
            if not endpoint.ipv6 and network.subnet6:
                endpoint.ipv6, endpoint.prefixlen6 = self._address6_for(network, None)
            endpoint.active = True
            self._save_endpoint(network, endpoint)
            return network, endpoint

    def release_address(self, ref: str, container_id: str) -> Optional[Endpoint]:
        """At stop: the addresses go back to the pools, unless given (--ip, --ip6), and the
        endpoint is no longer active. Returns it as left, None when the container is not on it."""
        with self._locked():
            network = self._find(self._load_all(), ref)
            endpoint = network.endpoints.get(container_id)
            if endpoint is None:
                return None
            if not endpoint.static:
                endpoint.ipv4, endpoint.prefixlen = "", 0
            if not endpoint.static6:
                endpoint.ipv6, endpoint.prefixlen6 = "", 0
            endpoint.active = False
            self._save_endpoint(network, endpoint)
            return endpoint

    def disconnect(self, ref: str, container_id: str, force: bool = False) -> None:
        """Take a container off a network; with force, not being on it is fine."""
        with self._locked():
            network = self._find(self._load_all(), ref)
            if container_id not in network.endpoints:
                if force:
                    return
                raise FailedPrecondition(f"disconnect from {network.name}: container {container_id} "
                                         "is not connected to the network")
            self._save_endpoint(network, network.endpoints.pop(container_id))

    def disconnect_all(self, container_id: str) -> List[str]:
        """Take a container off every network (container removal); returns the names."""
        left = []
        with self._locked():
            for network in self._load_all(leaving=container_id):
                endpoint = network.endpoints.pop(container_id, None)
                if endpoint is not None:
                    self._save_endpoint(network, endpoint)
                    left.append(network.name)
            self._leaving.discard(container_id)
        return left

    def leave(self, container_id: str) -> None:
        """A removed container's endpoints stop counting now, without a write: every later
        call of this store leaves them out (their addresses are free, `network rm` finds
        the network unused), and disconnect_all(container_id) writes them away. Only for a
        container gone for good (its dir in the trash): a daemon killed before that write
        has the next one drop the endpoints as orphans (drop_orphans), as the records say
        no such container exists."""
        self._leaving.add(container_id)

    def drop_orphans(self, containers: Iterable[str]) -> List[str]:
        """At the daemon's start: endpoints of containers that don't exist go, with their addresses.

        A killed daemon can leave one (between connect and the container's first
        record, or a --rm record a power cut lost while the side file survived).
        Returns the dropped container ids.
        """
        known = set(containers)
        dropped = []
        with self._locked():
            networks = self._load_all()
            self._drop_orphan_side_files({n.network_id for n in networks})
            for network in networks:
                for container_id in [cid for cid in network.endpoints if cid not in known]:
                    endpoint = network.endpoints.pop(container_id)
                    self._save_endpoint(network, endpoint)
                    dropped.append(container_id)
                    logger.warning("network %s: dropped the endpoint of container %s, which does not exist",
                                   network.name, container_id[:12])
        return dropped

    def _drop_orphan_side_files(self, network_ids: Iterable[str]) -> None:
        """Side files whose network is gone (a remove killed between its two unlinks, older versions)."""
        wanted = {f"{network_id}.ephemeral" for network_id in network_ids}
        for entry in os.listdir(self.root):
            if entry.endswith(".ephemeral") and entry not in wanted:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.root, entry))

    def networks_of(self, container_id: str) -> List[Network]:
        """The networks a container is on, in creation order."""
        with self._locked():
            return [n for n in self._load_all() if container_id in n.endpoints]


def _check_exclusive(network: Network, current: Sequence[Network]) -> None:
    """host and none exclude every other network (docker's rule)."""
    if not current:
        return
    if network.driver in (HOST, NULL) or any(n.driver in (HOST, NULL) for n in current):
        raise Conflict(f"connect to {network.name}: container cannot be disconnected from host "
                       "network or connected to host network",
                       hint=f"it is on {', '.join(n.name for n in current)}")


def _matches(network: Network, filters: Mapping[str, List[str]], dangling: Optional[bool]) -> bool:
    if "name" in filters and not any(v in network.name for v in filters["name"]):
        return False
    if "id" in filters and not any(network.network_id.startswith(v) for v in filters["id"]):
        return False
    if "driver" in filters and network.driver not in filters["driver"]:
        return False
    if "scope" in filters and "local" not in filters["scope"]:
        return False
    kind = "builtin" if network.is_predefined else "custom"
    if "type" in filters and kind not in filters["type"]:
        return False
    if dangling is not None and dangling != (not network.active_endpoints() and not network.is_predefined):
        return False
    return f.match_labels(filters, network.labels)


def _no_overlap(wanted: Subnet, taken: Mapping[str, Subnet]) -> Subnet:
    """wanted, unless another network (name -> subnet) already uses part of it."""
    for other, used in taken.items():
        if wanted.overlaps(used):
            raise Conflict(f"create network: subnet {wanted} overlaps with network {other} ({used})")
    return wanted
