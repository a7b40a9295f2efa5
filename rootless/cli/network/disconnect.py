"""`rootless network disconnect NETWORK CONTAINER`."""
from __future__ import annotations

import click

from rootless.cli.app import App


@click.command()
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect from a network.")
@click.argument("network")
@click.argument("container")
@click.pass_obj
def disconnect(app: App, force: bool, network: str, container: str) -> None:
    """Disconnect a container from a network."""
    app.client.disconnect_container_from_network(network, container, force)
