"""`rootless volume prune`: remove unused (anonymous, or all with -a) volumes."""
from __future__ import annotations

from typing import Tuple

import click

from rootless.cli.app import App
from rootless.wire.filters import parse_flags
from rootless.cli.format import confirm_prune, prune_report_lines


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused volumes, not just anonymous ones.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'label=<label>').")
@click.pass_obj
def prune(app: App, all_: bool, force: bool, filters: Tuple[str, ...]) -> None:
    """Remove unused local volumes."""
    what = "all local volumes not used by at least one container" if all_ else \
        "all anonymous local volumes not used by at least one container"
    if not confirm_prune(what, force):
        return
    wanted = parse_flags(filters)
    if all_:
        wanted["all"] = ["true"]
    report = app.client.prune_volumes(wanted)
    deleted = report.get("VolumesDeleted") or []
    for line in prune_report_lines("Volumes", deleted, report.get("SpaceReclaimed") or 0):
        click.echo(line)
