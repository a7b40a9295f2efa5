"""`rootless system service`: run the daemon in the foreground (for systemd)."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from rootless.cli.app import App


@click.command()
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
@click.option("-H", "--host", "hosts", multiple=True, help="Extra listener, e.g. tcp://0.0.0.0:2376 (repeatable).")
@click.option("--tlsverify", is_flag=True, default=None, help="Mutual TLS on tcp:// listeners.")
@click.option("--tlscacert", default="", help="CA that signs the client certificates.")
@click.option("--tlscert", default="", help="The server's certificate.")
@click.option("--tlskey", default="", help="The server's private key (mode 0600).")
@click.option("--insecure-tcp", is_flag=True, help="Allow plain TCP on loopback: no authentication at all.")
@click.pass_obj
def service(app: App, log_level: str, hosts: Tuple[str, ...], tlsverify: Optional[bool], tlscacert: str,
            tlscert: str, tlskey: str, insecure_tcp: bool) -> None:
    """Run rootlessd in the foreground until SIGTERM."""
    # Lazily imported: nothing else in the CLI may pull in server code.
    from rootless.daemon.main import remote_from_flags, serve
    from rootless.util.log import setup_logging

    setup_logging(log_level or app.settings.log_level)
    remote = remote_from_flags(app.settings, hosts, tlsverify, tlscacert, tlscert, tlskey, insecure_tcp)
    serve(app.paths, app.settings, remote)
