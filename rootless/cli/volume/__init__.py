"""`rootless volume ...`."""
from __future__ import annotations

import click

from rootless.cli import LazyGroup

VOLUME_COMMANDS = {
    "create": "volume.create:create",
    "ls": "volume.ls:ls",
    "list": "volume.ls:ls",
    "inspect": "volume.inspect:inspect",
    "rm": "volume.rm:rm",
    "remove": "volume.rm:rm",
    "prune": "volume.prune:prune",
}


@click.group(cls=LazyGroup, lazy=VOLUME_COMMANDS)
def volume() -> None:
    """Manage volumes."""
