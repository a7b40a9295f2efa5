"""`rootless system ...`."""
from __future__ import annotations

from rootless.cli.commands import SYSTEM_COMMANDS
from rootless.cli.lazy import LazyGroup
import click


@click.group(cls=LazyGroup, lazy=SYSTEM_COMMANDS)
def system() -> None:
    """Manage the rootless daemon and the host."""
