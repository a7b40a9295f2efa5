"""`rootless images`: list images with docker's columns, --digests, --filter and --format."""
from __future__ import annotations

import time
from typing import Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.common.rows import IMAGE_HEADERS, image_rows
from rootless.wire.filters import parse_flags
from rootless.cli.format import format_rows

DEFAULT_FORMAT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
DIGESTS_FORMAT = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"


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
    wanted = parse_flags(filters)
    if reference:
        wanted.setdefault("reference", []).append(reference)
    now = time.time()
    summaries = app.client.images(wanted, all_, digests)
    rows = [row for s in summaries for row in image_rows(s, not no_trunc, now)]
    if quiet and not fmt:
        fmt = "{{.ID}}"
    default = DIGESTS_FORMAT if digests else DEFAULT_FORMAT
    if any(s.get("ReadOnly") for s in summaries):  # site images (additional_image_stores) are marked
        default += "\t{{.ReadOnly}}"
    for line in format_rows(fmt or default, rows, IMAGE_HEADERS):
        click.echo(line)
