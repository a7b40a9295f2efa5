"""`rootless export`: the container's filesystem as a tar archive."""
from __future__ import annotations

import sys
from typing import IO, Iterable, Optional

import click

from rootless.cli.app import App
from rootless.errors import InvalidArgument


@click.command()
@click.option("-o", "--output", help="Write to a file, instead of STDOUT.")
@click.argument("container")
@click.pass_obj
def export(app: App, output: Optional[str], container: str) -> None:
    """Export a container's filesystem as a tar archive."""
    if output is None and sys.stdout.isatty():
        raise InvalidArgument("cowardly refusing to save to a terminal", hint="use the -o flag or redirect")
    response = app.client.export(container)
    try:
        if output is None:
            _copy(response.iter_raw(), sys.stdout.buffer)
        else:
            with open(output, "wb") as f:
                _copy(response.iter_raw(), f)
    finally:
        response.close()


def _copy(chunks: Iterable[bytes], out: IO[bytes]) -> None:
    for chunk in chunks:
        out.write(chunk)
    out.flush()
