"""`rootless image ...`: docker's image verbs, each in its own module."""
from __future__ import annotations

import click

from rootless.cli.commands import IMAGE_COMMANDS
from rootless.cli.lazy import LazyGroup


@click.group(cls=LazyGroup, lazy=IMAGE_COMMANDS)
def image() -> None:
    """Manage images."""
