"""`rootless save`: write images to a tar archive (docker's format, OCI layout included)."""
from __future__ import annotations

import os
import sys
from typing import IO, Optional, Tuple

import click

from rootless.cli.app import App
from rootless.errors import InvalidArgument
from rootless.util.fs import atomic_write


@click.command()
@click.option("-o", "--output", help="Write to a file, instead of STDOUT.")
@click.argument("images", nargs=-1, required=True)
@click.pass_obj
def save(app: App, output: Optional[str], images: Tuple[str, ...]) -> None:
    """Save one or more images to a tar archive (streamed to STDOUT by default)."""
    if not output and sys.stdout.isatty():
        raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    response = app.client.get_images(list(images))
    try:
        chunks = response.iter_raw(1 << 20)
        if output:
            atomic_write(os.path.abspath(output), chunks, mode=0o644)
        else:
            out: IO[bytes] = sys.stdout.buffer
            for chunk in chunks:
                out.write(chunk)
            out.flush()
    finally:
        response.close()
