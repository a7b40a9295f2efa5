"""`rootless history`: show the history of an image."""
from __future__ import annotations

import time
from typing import Any, Dict, Optional

import click

from rootless.cli.app import App
from rootless.cli.format import format_rows
from rootless.cli.humanize import ellipsis, go_time, human_duration, human_size

DEFAULT_FORMAT = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
           "Size": "SIZE", "Comment": "COMMENT"}


def history_row(entry: Dict[str, Any], truncate: bool, human: bool) -> Dict[str, Any]:
    image_id = entry.get("Id", "")
    if truncate and image_id.startswith("sha256:"):
        image_id = image_id[len("sha256:"):][:12]
    created = entry.get("Created", 0)
    created_by = entry.get("CreatedBy", "")
    return {
        "ID": image_id, "CreatedSince": human_duration(time.time() - created) + " ago" if human else go_time(created),
        "CreatedAt": go_time(created), "CreatedBy": ellipsis(created_by, 45) if truncate else created_by,
        "Size": human_size(entry.get("Size", 0)) if human else str(entry.get("Size", 0)),
        "Comment": entry.get("Comment", ""),
    }


@click.command()
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-H", "--human", type=bool, default=True, help="Print sizes and dates in human readable format.")
@click.option("--format", "fmt", help="Format output using a Go template.")
@click.argument("image")
@click.pass_obj
def history(app: App, quiet: bool, no_trunc: bool, human: bool, fmt: Optional[str], image: str) -> None:
    """Show the history of an image."""
    rows = [history_row(e, not no_trunc, human) for e in app.client.history(image)]
    if quiet and not fmt:
        fmt = "{{.ID}}"
    for line in format_rows(fmt or DEFAULT_FORMAT, rows, HEADERS):
        click.echo(line)
