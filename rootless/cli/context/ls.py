"""`rootless context ls`."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import click

from rootless.cli.app import App
from rootless.cli.context import current_name, default_endpoint
from rootless.cli.format import format_rows
from rootless.config.contexts import DEFAULT, ContextStore
from rootless.errors import RootlessError

DEFAULT_FORMAT = "table {{.Marked}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}"
HEADERS = {"Name": "NAME", "Marked": "NAME", "Description": "DESCRIPTION", "DockerEndpoint": "DOCKER ENDPOINT", "Error": "ERROR",
           "Current": "CURRENT"}


def context_rows(app: App, store: ContextStore) -> List[Dict[str, Any]]:
    current = current_name(app, store)
    rows: List[Dict[str, Any]] = [{"Name": DEFAULT, "Description": "Current DOCKER_HOST based configuration",
             "DockerEndpoint": default_endpoint(app), "Error": "", "Current": current == DEFAULT}]
    for name in store.names():
        row: Dict[str, Any] = {"Name": name, "Description": "", "DockerEndpoint": "", "Error": "",
                               "Current": current == name}
        try:
            ctx = store.get(name)
            row.update(Description=ctx.description, DockerEndpoint=ctx.host)
        except RootlessError as exc:
            row["Error"] = exc.message
        rows.append(row)
    for row in rows:
        row["Marked"] = row["Name"] + (" *" if row["Current"] else "")
    return rows


@click.command()
@click.option("-q", "--quiet", is_flag=True, help="Only show context names.")
@click.option("--format", "fmt", help="Format output using a Go template, 'table ...' or 'json'.")
@click.pass_obj
def ls(app: App, quiet: bool, fmt: Optional[str]) -> None:
    """List contexts."""
    rows = context_rows(app, ContextStore())
    for line in format_rows(fmt or ("{{.Name}}" if quiet else DEFAULT_FORMAT), rows, HEADERS):
        click.echo(line)
