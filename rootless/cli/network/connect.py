"""`rootless network connect NETWORK CONTAINER`."""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.common.labels import parse_labels


def endpoint_body(aliases: Tuple[str, ...], ip: Optional[str], ip6: Optional[str], links: Tuple[str, ...],
                  driver_opts: Tuple[str, ...], mac: Optional[str]) -> Dict[str, Any]:
    """EndpointConfig of POST /networks/{id}/connect, as docker's CLI sends it."""
    endpoint: Dict[str, Any] = {"Aliases": list(aliases) or None, "Links": list(links) or None,
                                "DriverOpts": parse_labels(list(driver_opts)) or None}
    if ip or ip6:
        endpoint["IPAMConfig"] = {"IPv4Address": ip or "", "IPv6Address": ip6 or ""}
    if mac:
        endpoint["MacAddress"] = mac
    return endpoint


@click.command()
@click.option("--alias", "aliases", multiple=True, help="Add network-scoped alias for the container.")
@click.option("--ip", help="IPv4 address (e.g., 172.30.100.104).")
@click.option("--ip6", help="IPv6 address (e.g., 2001:db8::33).")
@click.option("--link", "links", multiple=True, help="Add link to another container.")
@click.option("--driver-opt", "driver_opts", multiple=True, help="driver options for the network.")
@click.option("--mac-address", "mac", help="Container MAC address (e.g., 92:d0:c6:0a:29:33).")
@click.argument("network")
@click.argument("container")
@click.pass_obj
def connect(app: App, aliases: Tuple[str, ...], ip: Optional[str], ip6: Optional[str], links: Tuple[str, ...],
            driver_opts: Tuple[str, ...], mac: Optional[str], network: str, container: str) -> None:
    """Connect a container to a network."""
    app.client.connect_container_to_network(network, container,
                                            endpoint_body(aliases, ip, ip6, links, driver_opts, mac))
