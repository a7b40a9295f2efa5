"""`rootless pause` / `unpause` (the engine refuses clearly on hosts without a freezer cgroup)."""
from __future__ import annotations

from typing import Tuple

import click

from rootless.cli.app import App
from rootless.cli.common.batch import for_each


@click.command()
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def pause(app: App, containers: Tuple[str, ...]) -> None:
    """Pause all processes within one or more containers."""
    for_each(containers, app.client.pause)


@click.command()
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def unpause(app: App, containers: Tuple[str, ...]) -> None:
    """Unpause all processes within one or more containers."""
    for_each(containers, app.client.unpause)
