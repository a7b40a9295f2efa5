"""`rootless container prune`: remove all stopped containers."""
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
    """Remove all stopped containers."""
    if not confirm_prune("all stopped containers", force):
        return
    report = app.client.prune_containers(parse_flags(filters))
    deleted = report.get("ContainersDeleted") or []
    for line in prune_report_lines("Containers", deleted, report.get("SpaceReclaimed") or 0):
        click.echo(line)
