"""`rootless image convert`: the user's images into the configured image_format (issue 15)."""
from __future__ import annotations

import click

from rootless.cli.app import App
from rootless.cli.image.progress import in_band_error


@click.command()
@click.pass_obj
def convert(app: App) -> None:
    """Convert your images to the configured image_format ("squashfs": one file each; "dirs": layer dirs).

    Pulls, loads, builds and commits already store new images that way; this
    converts those stored before the setting changed (rootless info counts them).
    """
    for message in app.client.convert_images():
        error = in_band_error(message)
        if error is not None:
            raise error
        if message.get("stream"):
            click.echo(message["stream"], nl=False)
