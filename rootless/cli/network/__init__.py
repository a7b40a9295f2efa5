"""`rootless network ...`."""
from __future__ import annotations

import click

from rootless.cli import LazyGroup

NETWORK_COMMANDS = {
    "create": "network.create:create",
    "ls": "network.ls:ls",
    "list": "network.ls:ls",
    "inspect": "network.inspect:inspect",
    "rm": "network.rm:rm",
    "remove": "network.rm:rm",
    "connect": "network.connect:connect",
    "disconnect": "network.disconnect:disconnect",
    "prune": "network.prune:prune",
}


@click.group(cls=LazyGroup, lazy=NETWORK_COMMANDS)
def network() -> None:
    """Manage networks."""
