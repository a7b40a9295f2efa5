"""`rootless ps`: list containers with docker's columns, --format and filters."""
from __future__ import annotations

import json
import time
from typing import Any, Dict, Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.filters import parse_filter_flags
from rootless.cli.format import format_rows
from rootless.cli.humanize import display_ports, ellipsis, go_time, human_duration, human_size

DEFAULT_FORMAT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
           "RunningFor": "CREATED", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES", "Labels": "LABELS",
           "Mounts": "MOUNTS", "Networks": "NETWORKS", "State": "STATE", "Size": "SIZE",
           "LocalVolumes": "LOCAL VOLUMES"}


def container_row(summary: Dict[str, Any], truncate: bool, now: Optional[float] = None) -> Dict[str, Any]:
    """One GET /containers/json entry as docker's ps formatting context."""
    cid = summary.get("Id", "")
    image = summary.get("Image", "")
    if truncate and image.startswith("sha256:"):
        image = image[len("sha256:"):][:12]
    command = summary.get("Command", "")
    created = summary.get("Created", 0)
    names = [n.lstrip("/") for n in summary.get("Names") or []]
    labels = summary.get("Labels") or {}
    mounts = [m.get("Name") or m.get("Source", "") for m in summary.get("Mounts") or []]
    size = f"{human_size(summary.get('SizeRw', 0))} (virtual {human_size(summary.get('SizeRootFs', 0))})"
    return {
        "ID": cid[:12] if truncate else cid, "Image": image,
        "Command": json.dumps(ellipsis(command, 20) if truncate else command, ensure_ascii=False),
        "CreatedAt": go_time(created), "RunningFor": human_duration((now or time.time()) - created) + " ago",
        "Status": summary.get("Status", ""), "State": summary.get("State", ""),
        "Ports": display_ports(summary.get("Ports") or []), "Names": ",".join(names),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Mounts": ",".join(ellipsis(m, 15) if truncate else m for m in mounts),
        "Networks": ",".join(sorted(((summary.get("NetworkSettings") or {}).get("Networks") or {}).keys())),
        "Size": size, "LocalVolumes": str(sum(1 for m in summary.get("Mounts") or [] if m.get("Type") == "volume")),
    }


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
                                      filters=parse_filter_flags(filters))
    rows = [container_row(s, not no_trunc) for s in summaries]
    if quiet and not fmt:
        fmt = "{{.ID}}"
    fmt = fmt or (DEFAULT_FORMAT + ("\t{{.Size}}" if size else ""))
    for line in format_rows(fmt, rows, HEADERS):
        click.echo(line)
