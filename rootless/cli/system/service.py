"""`rootless system service`: run the daemon in the foreground (for systemd)."""
from __future__ import annotations

import click

from rootless.cli.app import App


@click.command()
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
@click.pass_obj
def service(app: App, log_level: str) -> None:
    """Run rootlessd in the foreground until SIGTERM."""
    # Lazily imported: nothing else in the CLI may pull in server code.
    from rootless.daemon.main import serve
    from rootless.util.log import setup_logging

    setup_logging(log_level or app.settings.log_level)
    serve(app.paths, app.settings)
