"""`rootless context show`."""
from __future__ import annotations

import click

from rootless.cli.app import App
from rootless.cli.context import current_name
from rootless.config.contexts import ContextStore


@click.command()
@click.pass_obj
def show(app: App) -> None:
    """Print the name of the current context."""
    click.echo(current_name(app, ContextStore()))
