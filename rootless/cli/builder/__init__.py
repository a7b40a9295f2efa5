"""`rootless builder ...`: the build cache."""
from __future__ import annotations

import click

from rootless.cli.commands import BUILDER_COMMANDS
from rootless.cli.lazy import LazyGroup


@click.group(cls=LazyGroup, lazy=BUILDER_COMMANDS)
def builder() -> None:
    """Manage builds."""
