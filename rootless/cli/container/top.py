"""`rootless top`: the processes of a container, as ps shows them."""
from __future__ import annotations

from typing import Tuple

import click

from rootless.cli.app import App
from rootless.cli.format import tabwrite


@click.command(context_settings={"allow_interspersed_args": False})
@click.argument("container")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def top(app: App, container: str, ps_args: Tuple[str, ...]) -> None:
    """Display the running processes of a container."""
    answer = app.client.top(container, " ".join(ps_args) or None)
    rows = [answer.get("Titles") or []] + list(answer.get("Processes") or [])
    for line in tabwrite(["\t".join(str(cell) for cell in row) for row in rows]):
        click.echo(line)
