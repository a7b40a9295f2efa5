"""`rootless wait`: block until containers stop, print their exit codes."""
from __future__ import annotations

from typing import Tuple

import click

from rootless.cli.app import App
from rootless.cli.common.batch import for_each


@click.command()
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def wait(app: App, containers: Tuple[str, ...]) -> None:
    """Block until one or more containers stop, then print their exit codes."""
    for_each(containers, lambda name: str(app.client.wait(name).get("StatusCode")))
