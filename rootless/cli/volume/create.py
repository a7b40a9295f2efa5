"""`rootless volume create [NAME]`: prints the volume's name."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.common.labels import parse_labels
from rootless.errors import InvalidArgument


@click.command()
@click.option("-d", "--driver", default="local", show_default=True, help="Specify volume driver name.")
@click.option("-o", "--opt", "opts", multiple=True, help="Set driver specific options (key=value).")
@click.option("-l", "--label", "labels", multiple=True, help="Set metadata for a volume.")
@click.option("--name", "name_flag", help="Specify volume name.")
@click.argument("name", required=False)
@click.pass_obj
def create(app: App, driver: str, opts: Tuple[str, ...], labels: Tuple[str, ...], name_flag: Optional[str],
           name: Optional[str]) -> None:
    """Create a volume."""
    if name and name_flag and name != name_flag:
        raise InvalidArgument("conflicting options: either specify --name or provide positional arg, not both")
    created = app.client.create_volume(name or name_flag or "", driver, parse_labels(list(opts)),
                                       parse_labels(list(labels)))
    click.echo(created.get("Name", ""))
