"""`rootless commit`: a container's changes as a new image (docker commit)."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from rootless.cli.app import App


@click.command()
@click.option("-a", "--author", default="", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").')
@click.option("-c", "--change", "changes", multiple=True, help="Apply Dockerfile instruction to the created image.")
@click.option("-m", "--message", default="", help="Commit message.")
@click.option("-p/--no-pause", "--pause", "pause", default=True,
              help="Pause container during commit (where cgroups can freeze it).")
@click.argument("container")
@click.argument("repository", required=False)
@click.pass_obj
def commit(app: App, author: str, changes: Tuple[str, ...], message: str, pause: bool, container: str,
           repository: Optional[str]) -> None:
    """Create a new image from a container's changes."""
    repo, tag = None, None
    if repository:
        name, _, maybe_tag = repository.rpartition(":")
        if name and "/" not in maybe_tag:
            repo, tag = name, maybe_tag
        else:
            repo = repository
    result = app.client.commit(container, repo, tag, message, author, changes, pause)
    click.echo(result["Id"])
