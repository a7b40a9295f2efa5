"""`rootless ps`: list containers with docker's columns, --format and filters.

cli/fast.py runs this verb without click for the flags it knows (the output is cli/listings.py's for
both); a flag added here must be added there too, or shown to fall back (tests/unit/cli/test_fast.py)."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.listings import ps_lines


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running).")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided.")
@click.option("--format", "fmt", help="Format output using a Go template, 'table ...' or 'json'.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-n", "--last", type=int, default=-1, help="Show n last created containers (includes all states).")
@click.option("-l", "--latest", is_flag=True, help="Show the latest created container (includes all states).")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes.")
@click.pass_obj
def ps(app: App, all_: bool, quiet: bool, filters: Tuple[str, ...], fmt: Optional[str], no_trunc: bool,
       last: int, latest: bool, size: bool) -> None:
    """List containers."""
    for line in ps_lines(app, all_, quiet, filters, fmt, no_trunc, last, latest, size):
        click.echo(line)
