"""`rootless network connect NETWORK CONTAINER`."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from rootless.cli.app import App


@click.command()
@click.option("--alias", "aliases", multiple=True, help="Add network-scoped alias for the container.")
@click.option("--ip", help="IPv4 address (e.g., 172.30.100.104).")
@click.argument("network")
@click.argument("container")
@click.pass_obj
def connect(app: App, aliases: Tuple[str, ...], ip: Optional[str], network: str, container: str) -> None:
    """Connect a container to a network."""
    endpoint = {"Aliases": list(aliases) or None}
    if ip:
        endpoint["IPAMConfig"] = {"IPv4Address": ip}  # type: ignore[assignment]
    app.client.connect_container_to_network(network, container, endpoint)
