"""`rootless volume inspect`."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.common.inspection import inspect_names


@click.command()
@click.option("-f", "--format", "fmt", help="Format output using a Go template.")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def inspect(app: App, fmt: Optional[str], names: Tuple[str, ...]) -> None:
    """Display detailed information on one or more volumes."""
    inspect_names(app, names, ("volume",), fmt)
