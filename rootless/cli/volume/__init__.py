"""`rootless volume ...`."""
from __future__ import annotations

import click

from rootless.cli.commands import VOLUME_COMMANDS
from rootless.cli.lazy import LazyGroup


@click.group(cls=LazyGroup, lazy=VOLUME_COMMANDS)
def volume() -> None:
    """Manage volumes."""
