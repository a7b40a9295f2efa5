"""`rootless kill`: send a signal (default SIGKILL) to running containers."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.common.batch import for_each


@click.command()
@click.option("-s", "--signal", help="Signal to send to the container (default KILL).")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def kill(app: App, signal: Optional[str], containers: Tuple[str, ...]) -> None:
    """Kill one or more running containers."""
    for_each(containers, lambda name: app.client.kill(name, signal))
