"""`rootless context use NAME`."""
from __future__ import annotations

import os
import sys

import click

from rootless.config.contexts import ContextStore


@click.command()
@click.argument("name")
def use(name: str) -> None:
    """Set the current context (currentContext in ~/.docker/config.json)."""
    ContextStore().use(name)
    click.echo(name)
    sys.stderr.write(f'Current context is now "{name}"\n')
    if os.environ.get("DOCKER_HOST"):
        sys.stderr.write("Warning: DOCKER_HOST environment variable overrides the active context. "
                         "To use a context, either set the global --context flag, or unset DOCKER_HOST "
                         "environment variable.\n")
