"""`rootless tag`: create a tag TARGET_IMAGE that refers to SOURCE_IMAGE."""
from __future__ import annotations

import click

from rootless.cli.app import App
from rootless.cli.image.names import split_tag
from rootless.errors import InvalidArgument


@click.command()
@click.argument("source")
@click.argument("target")
@click.pass_obj
def tag(app: App, source: str, target: str) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE."""
    repository, target_tag = split_tag(target)
    if target_tag.startswith("sha256:"):
        raise InvalidArgument(f"refusing to create a tag with a digest reference: {target}")
    app.client.tag_image(source, repository, target_tag or "latest")
