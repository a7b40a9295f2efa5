"""`rootless network ...`."""
from __future__ import annotations

import click

from rootless.cli.commands import NETWORK_COMMANDS
from rootless.cli.lazy import LazyGroup


@click.group(cls=LazyGroup, lazy=NETWORK_COMMANDS)
def network() -> None:
    """Manage networks."""
