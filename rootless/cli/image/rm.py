"""`rootless rmi`: remove images (untag, then delete what nothing names)."""
from __future__ import annotations

from typing import Tuple

import click

from rootless.cli.app import App
from rootless.errors import RootlessError


@click.command()
@click.option("-f", "--force", is_flag=True, help="Force removal of the image.")
@click.option("--no-prune", is_flag=True, help="Do not delete untagged parents.")
@click.argument("images", nargs=-1, required=True)
@click.pass_obj
def rmi(app: App, force: bool, no_prune: bool, images: Tuple[str, ...]) -> None:
    """Remove one or more images."""
    failed = []
    for name in images:
        try:
            for item in app.client.remove_image(name, force, no_prune):
                for key, value in item.items():
                    click.echo(f"{key}: {value}")
        except RootlessError as exc:
            failed.append(exc)
            click.echo(f"Error: {exc.message}", err=True)
    if failed:
        raise click.exceptions.Exit(1)
