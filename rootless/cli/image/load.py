"""`rootless load`: load images from a tar archive (docker save's format or an OCI layout)."""
from __future__ import annotations

import contextlib
import sys
from typing import IO, Optional

import click

from rootless.cli.app import App
from rootless.cli.image.progress import in_band_error
from rootless.errors import NotFound


@click.command()
@click.option("-i", "--input", "input_", help="Read from tar archive file, instead of STDIN.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output.")
@click.pass_obj
def load(app: App, input_: Optional[str], quiet: bool) -> None:
    """Load an image from a tar archive or STDIN."""
    with contextlib.ExitStack() as stack:
        source: IO[bytes] = sys.stdin.buffer
        if input_:
            try:
                source = stack.enter_context(open(input_, "rb"))
            except OSError as exc:
                raise NotFound(f"open {input_}: {(exc.strerror or str(exc)).lower()}") from exc
        for message in app.client.load_images(source, quiet):
            error = in_band_error(message)
            if error is not None:
                raise error
            if not quiet and message.get("stream"):
                click.echo(message["stream"], nl=False)
