"""A container's endpoints as docker's API spells them: EndpointSettings in, EndpointSettings out.

dockerd keeps, per network a container is on, what was asked (IPAMConfig,
Aliases, Links, MacAddress, DriverOpts) beside what it got (NetworkID,
EndpointID, Gateway, IPAddress, IPPrefixLen, the IPv6 ones), and shows both
in container inspect (moby daemon/container_operations.go
updateContainerNetworkSettings, buildEndpointInfo). This module turns a
request's EndpointSettings into the store's EndpointDetails and a store
endpoint back into the record's EndpointSettings.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from rootless.api import types
from rootless.engine.container_model import Endpoint as RecordedEndpoint
from rootless.errors import Internal, InvalidArgument, NotFound
from rootless.networks import ipam
from rootless.networks.store import Endpoint, EndpointDetails, Network, NetworkStore

BUILTIN = ("bridge", "default", "host", "none")
# What dockerd's bridge driver does with an endpoint's driver options: ifname names the
# interface in the container (applied); sysctls are set in it (not by rootless: refused).
IFNAME_OPT = "com.docker.network.endpoint.ifname"
SYSCTLS_OPT = "com.docker.network.endpoint.sysctls"


def ipam_json(config: Optional[types.EndpointIPAMConfig]) -> Dict[str, Any]:
    """EndpointIPAMConfig as asked, without the fields left empty (docker shows them so)."""
    if config is None:
        return {}
    shown: Dict[str, Any] = {}
    if config.IPv4Address:
        shown["IPv4Address"] = config.IPv4Address
    if config.IPv6Address:
        shown["IPv6Address"] = config.IPv6Address
    if config.LinkLocalIPs:
        shown["LinkLocalIPs"] = list(config.LinkLocalIPs)
    return shown


def details_of(settings: types.EndpointSettings, config_mac: str = "") -> EndpointDetails:
    """The store's EndpointDetails of a request's EndpointSettings.

    config_mac: Config.MacAddress (API < 1.44), used for the NetworkMode endpoint
    when the endpoint names none, as moby's handleMACAddressBC does.
    """
    opts = dict(settings.DriverOpts or {})
    if SYSCTLS_OPT in opts:
        raise InvalidArgument(f"invalid argument: DriverOpts[{SYSCTLS_OPT!r}]: per-endpoint sysctls are "
                              "not supported by rootless yet", hint="set them with --sysctl on the container")
    if settings.MacAddress and config_mac and ipam.parse_mac(settings.MacAddress) != ipam.parse_mac(config_mac):
        raise InvalidArgument("the container-wide MAC address must match the endpoint-specific MAC address "
                              "for the main network, or be left empty")
    config = settings.IPAMConfig
    return EndpointDetails(ipv6=(config.IPv6Address if config else "") or None,
                           mac=settings.MacAddress or config_mac, ipam_config=ipam_json(config),
                           driver_opts=opts, links=list(settings.Links or []))


def check_networks(store: NetworkStore, mode: str, endpoints: Mapping[str, Optional[types.EndpointSettings]],
                   config_mac: str) -> None:
    """Refuse at create, before anything is stored, endpoints naming networks that don't exist
    (dockerd would fail the same way at start: "network x not found", 404) and MAC
    addresses where rootless can't apply them."""
    joins = mode.startswith("container:")
    for name in endpoints:
        if name not in BUILTIN and name != mode and not name.startswith("container:"):
            store.get(name)  # NotFound: network x not found
            if joins:  # runconfig.ErrConflictSharedNetwork
                raise InvalidArgument("container sharing network namespace with another container or host cannot "
                                      "be connected to any other network")
            if mode in ("host", "none"):
                raise InvalidArgument("container cannot be disconnected from host network or connected to "
                                      f"host network: it is created on {mode} and asks for {name}")
    macs = [s.MacAddress for s in endpoints.values() if s is not None and s.MacAddress]
    if (mode in ("host", "none") or joins) and (config_mac or macs):
        raise InvalidArgument("conflicting options: mac-address and the network mode")


def check_user_defined(network_name: str, settings: types.EndpointSettings) -> None:
    """dockerd's refusal (validateEndpointSettings) of an address or aliases on the default bridge,
    at create and at connect alike: its containers don't find each other by name, and it hands
    out its addresses itself."""
    if network_name not in ("bridge", "default"):
        return
    config = settings.IPAMConfig
    if config is not None and (config.IPv4Address or config.IPv6Address):
        raise InvalidArgument("user specified IP address is supported on user defined networks only")
    if settings.Aliases:
        raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")


def settings_of(network: Network, endpoint: Endpoint) -> Dict[str, Any]:
    """docker's EndpointSettings of one attachment, as the container's record keeps it."""
    return {"IPAMConfig": dict(endpoint.ipam_config) or None, "Links": list(endpoint.links) or None,
            "Aliases": list(endpoint.aliases) or None, "MacAddress": endpoint.mac_address,
            "ConfiguredMacAddress": endpoint.mac, "DriverOpts": dict(endpoint.driver_opts) or None,
            "NetworkID": network.network_id, "EndpointID": endpoint.endpoint_id,
            "Gateway": network.gateway, "IPAddress": endpoint.ipv4, "IPPrefixLen": endpoint.prefixlen,
            "IPv6Gateway": network.gateway6 if endpoint.ipv6 else "", "GlobalIPv6Address": endpoint.ipv6,
            "GlobalIPv6PrefixLen": endpoint.prefixlen6}


def view_of(recorded: RecordedEndpoint, running: bool, dns_names: List[str]) -> Dict[str, Any]:
    """NetworkSettings.Networks[name] of a user network: what was asked always, addresses while it runs
    (a stopped container shows its configured MAC only, as dockerd's)."""
    return {"IPAMConfig": recorded.ipam_config, "Links": recorded.links, "Aliases": recorded.aliases,
            "MacAddress": (recorded.mac_address if running else "") or recorded.configured_mac,
            "DriverOpts": recorded.driver_opts, "GwPriority": 0,
            "NetworkID": recorded.network_id, "EndpointID": recorded.endpoint_id,
            "Gateway": recorded.gateway if running else "", "IPAddress": recorded.ip_address if running else "",
            "IPPrefixLen": recorded.prefix_len if running else 0,
            "IPv6Gateway": recorded.ipv6_gateway if running else "",
            "GlobalIPv6Address": recorded.ipv6_address if running else "",
            "GlobalIPv6PrefixLen": recorded.ipv6_prefix_len if running else 0, "DNSNames": dns_names}


def not_connected(container_id: str, network: str, running: bool, force: bool, name: str) -> Exception:
    """dockerd's answer to disconnecting a container that is not on the network: a running one is
    looked up by endpoint name with force (404), otherwise its words with status 500."""
    if running and force:
        return NotFound(f"endpoint {name} not found")
    the = "" if running else "the "
    return Internal(f"container {container_id} is not connected to {the}network {network}")


def interface_of(endpoint: Endpoint, default: str) -> str:
    """The interface name in the container: DriverOpts' ifname when given (docker 28)."""
    return endpoint.driver_opts.get(IFNAME_OPT) or default
