"""`rootless image export --format squashfs IMAGE -o FILE`: an image as one squashfs file (issue 15)."""
from __future__ import annotations

import os

import click

from rootless.cli.app import App
from rootless.util.fs import atomic_write


@click.command()
@click.option("--format", "format_", type=click.Choice(["squashfs"]), default="squashfs", show_default=True,
              help="File format: a squashfs of the flattened rootfs plus image.json (README \"HPC\").")
@click.option("-o", "--output", required=True, help="The file to write (replaced atomically).")
@click.argument("image")
@click.pass_obj
def export_image(app: App, format_: str, output: str, image: str) -> None:
    """Write an image as a single file, for a shared image store (additional_image_stores)."""
    response = app.client.export_squashfs(image)
    try:
        atomic_write(os.path.abspath(output), response.iter_raw(1 << 20), mode=0o644)
    finally:
        response.close()
