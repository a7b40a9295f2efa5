"""`rootless rm`: remove containers; `rm -f` of a missing one reports it but exits 0, like docker."""
from __future__ import annotations

from typing import Tuple

import click

from rootless.cli.app import App
from rootless.cli.common.batch import for_each


@click.command()
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container (uses SIGKILL).")
@click.option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes of the container.")
@click.option("-l", "--link", is_flag=True, hidden=True)
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def rm(app: App, force: bool, volumes: bool, link: bool, containers: Tuple[str, ...]) -> None:
    """Remove one or more containers."""
    for_each(containers, lambda name: app.client.remove_container(name, force, volumes), ignore_missing=force)
