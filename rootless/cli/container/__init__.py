"""`rootless container ...`: docker's container verbs, each in its own module."""
from __future__ import annotations

import click

from rootless.cli.commands import CONTAINER_COMMANDS
from rootless.cli.lazy import LazyGroup


@click.group(cls=LazyGroup, lazy=CONTAINER_COMMANDS)
def container() -> None:
    """Manage containers."""
