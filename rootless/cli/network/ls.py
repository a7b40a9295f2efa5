"""`rootless network ls`."""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import click

from rootless.cli.app import App
from rootless.wire.filters import parse_flags
from rootless.cli.format import format_rows

DEFAULT_FORMAT = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
           "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED"}


def network_row(net: Dict[str, Any], truncate: bool) -> Dict[str, Any]:
    """A /networks entry as docker's network formatting context."""
    labels = net.get("Labels") or {}
    net_id = net.get("Id", "")
    return {"ID": net_id[:12] if truncate else net_id, "Name": net.get("Name", ""), "Driver": net.get("Driver", ""),
            "Scope": net.get("Scope", "local"), "IPv6": bool(net.get("EnableIPv6")),
            "Internal": bool(net.get("Internal")), "CreatedAt": net.get("Created", ""),
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items()))}


@click.command()
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs.")
@click.option("-f", "--filter", "filters", multiple=True, help="Provide filter values (e.g. 'driver=bridge').")
@click.option("--format", "fmt", help="Format output using a Go template, 'table ...' or 'json'.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output.")
@click.pass_obj
def ls(app: App, quiet: bool, filters: Tuple[str, ...], fmt: Optional[str], no_trunc: bool) -> None:
    """List networks."""
    networks = app.client.networks(parse_flags(filters))
    rows = sorted((network_row(n, not no_trunc) for n in networks), key=lambda r: r["Name"])
    fmt = fmt or ("{{.ID}}" if quiet else DEFAULT_FORMAT)
    for line in format_rows(fmt, rows, HEADERS):
        click.echo(line)
