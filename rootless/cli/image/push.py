"""`rootless push`: upload an image to a registry."""
from __future__ import annotations

import sys

import click

from rootless.cli.app import App
from rootless.cli.image.names import split_tag
from rootless.cli.image.progress import show_progress


@click.command()
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.option("-a", "--all-tags", is_flag=True, help="Push all tags of an image to the repository.")
@click.argument("name")
@click.pass_obj
def push(app: App, quiet: bool, all_tags: bool, name: str) -> None:
    """Upload an image to a registry."""
    repository, tag = split_tag(name)
    if not tag and not all_tags:
        tag = "latest"
        if not quiet:
            click.echo("Using default tag: latest")
    aux = show_progress(app.client.push(repository, tag or None), sys.stdout, sys.stdout.isatty(), quiet)
    if quiet and aux:
        click.echo(name if tag else repository)
