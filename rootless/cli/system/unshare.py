"""`rootless unshare CMD`: run a command inside the engine's user and mount namespaces.

Like `podman unshare`: for looking at the store with the ownership containers
see, and for tests that need to act inside the namespace.
"""
from __future__ import annotations

import os
from typing import Tuple

import click

from rootless.cli.app import App


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def unshare(app: App, command: Tuple[str, ...]) -> None:
    """Run COMMAND (default $SHELL) as root of the engine's user namespace."""
    # Joining the namespace needs a single-threaded process: this one is.
    from rootless.host import cgroups, userns

    paths = app.daemon_paths()  # the namespaces of a daemon another login style started too (issue 11)
    userns.enter(paths, cgroups.detect())
    paths = paths.placed()  # the store the daemon uses, also when it moved off a shared fs
    os.environ["ROOTLESS_ROOT"] = paths.root
    os.environ["ROOTLESS_RUNTIME_DIR"] = paths.run
    argv = list(command) or [os.environ.get("SHELL", "/bin/sh")]
    try:
        os.execvp(argv[0], argv)
    except FileNotFoundError:
        raise click.ClickException(f"{argv[0]}: command not found") from None
