"""`rootless import`: create an image from a rootfs tarball."""
from __future__ import annotations

import contextlib
import sys
from typing import IO, Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.image.names import split_tag
from rootless.cli.image.progress import in_band_error
from rootless.errors import NotFound


@click.command("import")
@click.option("-c", "--change", "changes", multiple=True, help="Apply Dockerfile instruction to the created image.")
@click.option("-m", "--message", default="", help="Set commit message for imported image.")
@click.argument("source")
@click.argument("repository", required=False)
@click.pass_obj
def import_(app: App, changes: Tuple[str, ...], message: str, source: str, repository: Optional[str]) -> None:
    """Import the contents from a tarball (a file, or - for STDIN) to create an image."""
    repo, tag = split_tag(repository) if repository else (None, "")
    with contextlib.ExitStack() as stack:
        stream: IO[bytes] = sys.stdin.buffer
        if source != "-":
            try:
                stream = stack.enter_context(open(source, "rb"))
            except OSError as exc:
                raise NotFound(f"open {source}: {(exc.strerror or str(exc)).lower()}") from exc
        for message_line in app.client.import_image(stream, repo, tag or None, message, changes):
            error = in_band_error(message_line)
            if error is not None:
                raise error
            if message_line.get("status"):
                click.echo(message_line["status"])
