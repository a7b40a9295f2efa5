"""`rootless image inspect`: show images' details as JSON (or a --format template)."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.format import compile_format
from rootless.errors import RootlessError


@click.command("inspect")
@click.option("-f", "--format", "fmt", help="Format output using a Go template.")
@click.argument("images", nargs=-1, required=True)
@click.pass_obj
def image_inspect(app: App, fmt: Optional[str], images: Tuple[str, ...]) -> None:
    """Display detailed information on one or more images."""
    template = compile_format(fmt) if fmt else None
    found = []
    missing = []
    for name in images:
        try:
            found.append(app.client.inspect_image(name))
        except RootlessError as exc:
            missing.append(exc)
    if template is not None:
        for body in found:
            click.echo(template.render(body))
    else:
        app.echo_json(found)
    for error in missing:
        click.echo(f"Error: {error.message}", err=True)
    if missing:
        raise click.exceptions.Exit(1)
