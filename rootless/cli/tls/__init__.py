"""`rootless tls ...`: certificates for the daemon's tcp:// listeners (issue 14)."""
from __future__ import annotations

import click

from rootless.cli.commands import TLS_COMMANDS
from rootless.cli.lazy import LazyGroup


@click.group(cls=LazyGroup, lazy=TLS_COMMANDS)
def tls() -> None:
    """Manage TLS certificates for remote access."""
