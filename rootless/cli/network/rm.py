"""`rootless network rm`."""
from __future__ import annotations

from typing import Tuple

import click

from rootless.cli.app import App
from rootless.cli.common.batch import for_each


@click.command()
@click.option("-f", "--force", is_flag=True, help="Do not error if the network does not exist.")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def rm(app: App, force: bool, names: Tuple[str, ...]) -> None:
    """Remove one or more networks."""
    for_each(names, app.client.remove_network, ignore_missing=force)
