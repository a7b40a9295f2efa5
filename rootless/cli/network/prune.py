"""`rootless network prune`: remove networks no container uses."""
from __future__ import annotations

from typing import Tuple

import click

from rootless.cli.app import App
from rootless.wire.filters import parse_flags
from rootless.cli.format import confirm_prune, prune_report_lines


@click.command()
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'until=<timestamp>').")
@click.pass_obj
def prune(app: App, force: bool, filters: Tuple[str, ...]) -> None:
    """Remove all unused networks."""
    if not confirm_prune("all custom networks not used by at least one container", force):
        return
    deleted = app.client.prune_networks(parse_flags(filters)).get("NetworksDeleted") or []
    for line in prune_report_lines("Networks", deleted, None)[:-1]:
        click.echo(line)
