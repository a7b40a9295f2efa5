"""`rootless builder prune`: empty the build cache, or what --filter picks (docker builder prune)."""
from __future__ import annotations

from typing import Tuple

import click

from rootless.cli.app import App
from rootless.cli.format import confirm_prune
from rootless.cli.humanize import human_size
from rootless.wire.filters import parse_flags


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all build cache (the only kind here).")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'until=24h', 'id=<prefix>').")
@click.pass_obj
def prune(app: App, all_: bool, force: bool, filters: Tuple[str, ...]) -> None:
    """Remove build cache."""
    if not confirm_prune("all build cache" if all_ else "unused build cache", force):
        return
    report = app.client.prune_builds(parse_flags(filters) or None, all=all_)
    deleted = report.get("CachesDeleted") or []
    if deleted:
        click.echo("Deleted build cache objects:")
        for cache_id in deleted:
            click.echo(cache_id)
    click.echo(f"Total reclaimed space: {human_size(report.get('SpaceReclaimed', 0))}")
