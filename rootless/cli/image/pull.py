"""`rootless pull`: download an image from a registry, with docker's progress output."""
from __future__ import annotations

import sys
from typing import Optional

import click

from rootless.cli.app import App
from rootless.cli.image.names import full_name, split_tag
from rootless.cli.image.progress import show_progress


@click.command()
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.option("--platform", help="Set platform if server is multi-platform capable (os/arch[/variant]).")
@click.option("-a", "--all-tags", is_flag=True, hidden=True)
@click.argument("name")
@click.pass_obj
def pull(app: App, quiet: bool, platform: Optional[str], all_tags: bool, name: str) -> None:
    """Download an image from a registry."""
    repository, tag = split_tag(name)
    if not tag:
        tag = "latest"
        if not quiet:
            click.echo("Using default tag: latest")
    stream = app.client.pull(repository, tag, platform)
    show_progress(stream, sys.stdout, sys.stdout.isatty(), quiet)
    separator = "@" if tag.startswith("sha256:") else ":"
    click.echo(f"{full_name(repository)}{separator}{tag}")
