"""`rootless images`: list images with docker's columns, --digests, --filter and --format.

cli/fast.py runs this verb without click for the flags it knows (the output is cli/listings.py's for
both); a flag added here must be added there too, or shown to fall back (tests/unit/cli/test_fast.py)."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.listings import images_lines


@click.command("images")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all images (default hides intermediate images).")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("--digests", is_flag=True, help="Show digests.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided.")
@click.option("--format", "fmt", help="Format output using a Go template, 'table ...' or 'json'.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.argument("reference", required=False)
@click.pass_obj
def images(app: App, all_: bool, quiet: bool, digests: bool, filters: Tuple[str, ...], fmt: Optional[str],
           no_trunc: bool, reference: Optional[str]) -> None:
    """List images."""
    for line in images_lines(app, all_, quiet, digests, filters, fmt, no_trunc, reference):
        click.echo(line)
