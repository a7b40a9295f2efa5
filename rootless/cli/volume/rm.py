"""`rootless volume rm`."""
from __future__ import annotations

from typing import Tuple

import click

from rootless.cli.app import App
from rootless.cli.common.batch import for_each


@click.command()
@click.option("-f", "--force", is_flag=True, help="Force the removal of one or more volumes.")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def rm(app: App, force: bool, names: Tuple[str, ...]) -> None:
    """Remove one or more volumes."""
    for_each(names, lambda name: app.client.remove_volume(name, force), ignore_missing=force)
