"""`rootless stop`: stop running containers (StopSignal, then SIGKILL after the timeout)."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.common.batch import for_each


@click.command()
@click.option("-t", "--time", "--timeout", "timeout", type=int, help="Seconds to wait before killing.")
@click.option("-s", "--signal", help="Signal to send to the container.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def stop(app: App, timeout: Optional[int], signal: Optional[str], containers: Tuple[str, ...]) -> None:
    """Stop one or more running containers."""
    for_each(containers, lambda name: app.client.stop(name, timeout, signal))
