"""`rootless image ...`: docker's image verbs, each in its own module."""
from __future__ import annotations

import click

from rootless.cli import LazyGroup

IMAGE_COMMANDS = {
    "ls": "image.ls:images",
    "list": "image.ls:images",
    "pull": "image.pull:pull",
    "push": "image.push:push",
    "tag": "image.tag:tag",
    "rm": "image.rm:rmi",
    "inspect": "image.inspect:image_inspect",
    "history": "image.history:history",
    "save": "image.save:save",
    "load": "image.load:load",
    "import": "image.import_:import_",
    "prune": "image.prune:prune",
}


@click.group(cls=LazyGroup, lazy=IMAGE_COMMANDS)
def image() -> None:
    """Manage images."""
