"""`rootless system ...`."""
from __future__ import annotations

from rootless.cli import LazyGroup
import click

SYSTEM_COMMANDS = {
    "service": "system.service:service",
    "stop": "system.stop:stop",
    "info": "system.info:info",
    "events": "system.events:events",
    "df": "system.df:df",
}


@click.group(cls=LazyGroup, lazy=SYSTEM_COMMANDS)
def system() -> None:
    """Manage the rootless daemon and the host."""
