"""`rootless rename OLD NEW`."""
from __future__ import annotations

import click

from rootless.cli.app import App


@click.command()
@click.argument("container")
@click.argument("new_name")
@click.pass_obj
def rename(app: App, container: str, new_name: str) -> None:
    """Rename a container."""
    app.client.rename(container, new_name)
