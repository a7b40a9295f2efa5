"""`rootless builder prune`: empty the build cache (docker builder prune)."""
from __future__ import annotations

import click

from rootless.cli.app import App
from rootless.cli.format import confirm_prune
from rootless.cli.humanize import human_size


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all build cache (the only kind here).")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.pass_obj
def prune(app: App, all_: bool, force: bool) -> None:
    """Remove build cache."""
    if not confirm_prune("all build cache", force):
        return
    report = app.client.prune_builds()
    deleted = report.get("CachesDeleted") or []
    if deleted:
        click.echo("Deleted build cache objects:")
        for cache_id in deleted:
            click.echo(cache_id)
    click.echo(f"Total reclaimed space: {human_size(report.get('SpaceReclaimed', 0))}")
