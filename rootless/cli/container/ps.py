"""`rootless ps`: list containers with docker's columns, --format and filters."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.common.rows import CONTAINER_HEADERS, container_row
from rootless.wire.filters import parse_flags
from rootless.cli.format import format_rows

DEFAULT_FORMAT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"


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
    limit = 1 if latest else (last if last > 0 else None)
    summaries = app.client.containers(all=all_ or limit is not None, limit=limit, size=size,
                                      filters=parse_flags(filters))
    rows = [container_row(s, not no_trunc) for s in summaries]
    if quiet and not fmt:
        fmt = "{{.ID}}"
    fmt = fmt or (DEFAULT_FORMAT + ("\t{{.Size}}" if size else ""))
    for line in format_rows(fmt, rows, CONTAINER_HEADERS):
        click.echo(line)
