"""`rootless create`: create a container (pulling its image if missing) and print its id."""
from __future__ import annotations

from typing import Any

import click

from rootless.cli.app import App
from rootless.cli.container.body import CreateOptions
from rootless.cli.container.creating import create_container
from rootless.cli.container.flags import CREATE_CONTEXT, create_options
from rootless.cli.container.streaming import console_size


@click.command(context_settings=CREATE_CONTEXT)
@create_options
@click.pass_obj
# app is positional-only: click's pass_obj (Concatenate[T, P]) cannot bind a named first
# parameter next to **flags; it passes the object positionally anyway.
def create(app: App, /, image: str, command: Any, pull: str, platform: Any, **flags: Any) -> None:
    """Create a new container."""
    opts = CreateOptions.from_kwargs(flags)
    if opts.tty:
        opts.console_size = console_size()
    click.echo(create_container(app, opts, image, command, pull, platform))
