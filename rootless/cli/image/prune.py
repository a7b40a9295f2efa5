"""`rootless image prune`: remove unused images."""
from __future__ import annotations

from typing import Tuple

import click

from rootless.cli.app import App
from rootless.cli.format import confirm_prune
from rootless.wire.filters import parse_flags
from rootless.cli.humanize import human_size


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images, not just dangling ones.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'label=<key>=<value>').")
@click.pass_obj
def prune(app: App, all_: bool, force: bool, filters: Tuple[str, ...]) -> None:
    """Remove unused images."""
    what = "all images without at least one container associated to them" if all_ else "all dangling images"
    if not confirm_prune(what, force):
        return
    wanted = parse_flags(filters)
    if all_:
        wanted["dangling"] = ["false"]
    report = app.client.prune_images(wanted)
    deleted = report.get("ImagesDeleted") or []
    if deleted:
        click.echo("Deleted Images:")
        for item in deleted:
            for key, value in item.items():
                click.echo(f"{key.lower()}: {value}")
        click.echo("")
    click.echo(f"Total reclaimed space: {human_size(report.get('SpaceReclaimed', 0))}")
