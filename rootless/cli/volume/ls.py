"""`rootless volume ls`."""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import click

from rootless.cli.app import App
from rootless.wire.filters import parse_flags
from rootless.cli.format import format_rows

DEFAULT_FORMAT = "table {{.Driver}}\t{{.Name}}"
HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE",
           "Labels": "LABELS", "CreatedAt": "CREATED"}


def volume_row(vol: Dict[str, Any]) -> Dict[str, Any]:
    """A /volumes entry as docker's volume formatting context."""
    labels = vol.get("Labels") or {}
    return {"Name": vol.get("Name", ""), "Driver": vol.get("Driver", ""), "Mountpoint": vol.get("Mountpoint", ""),
            "Scope": vol.get("Scope", "local"), "CreatedAt": vol.get("CreatedAt", ""),
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items()))}


@click.command()
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names.")
@click.option("-f", "--filter", "filters", multiple=True, help="Provide filter values (e.g. 'dangling=true').")
@click.option("--format", "fmt", help="Format output using a Go template, 'table ...' or 'json'.")
@click.pass_obj
def ls(app: App, quiet: bool, filters: Tuple[str, ...], fmt: Optional[str]) -> None:
    """List volumes."""
    answer = app.client.volumes(parse_flags(filters))
    rows = sorted((volume_row(v) for v in answer.get("Volumes") or []), key=lambda r: r["Name"])
    fmt = fmt or ("{{.Name}}" if quiet else DEFAULT_FORMAT)
    for line in format_rows(fmt, rows, HEADERS):
        click.echo(line)
