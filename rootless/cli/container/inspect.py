"""`rootless inspect` (any object, docker's lookup order) and `rootless container inspect`."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.common.inspection import inspect_names

# docker's untyped inspect tries these in order (cli/command/system/inspect.go).
KINDS = ("container", "image", "volume", "network")


@click.command()
@click.option("-f", "--format", "fmt", help="Format output using a Go template.")
@click.option("--type", "kind", type=click.Choice(KINDS), help="Only inspect objects of this type.")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes if the type is container.")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def inspect(app: App, fmt: Optional[str], kind: Optional[str], size: bool, names: Tuple[str, ...]) -> None:
    """Return low-level information on Docker objects."""
    inspect_names(app, names, (kind,) if kind else KINDS, fmt, size)


@click.command("inspect")
@click.option("-f", "--format", "fmt", help="Format output using a Go template.")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes.")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def container_inspect(app: App, fmt: Optional[str], size: bool, names: Tuple[str, ...]) -> None:
    """Display detailed information on one or more containers."""
    inspect_names(app, names, ("container",), fmt, size)
