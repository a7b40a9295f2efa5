"""`rootless system service`: run the daemon in the foreground (for systemd)."""
from __future__ import annotations

import dataclasses
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
@click.option("--time", "-t", "idle_time", type=click.FloatRange(min=0), default=None,
              help="Exit after this many seconds with no container running and no client (0: never); "
                   "overrides idle_timeout.")
@click.pass_obj
def service(app: App, log_level: str, hosts: Tuple[str, ...], tlsverify: Optional[bool], tlscacert: str,
            tlscert: str, tlskey: str, insecure_tcp: bool, idle_time: Optional[float]) -> None:
    """Run rootlessd in the foreground until SIGTERM."""
    # Lazily imported: nothing else in the CLI may pull in server code.
    from rootless.daemon.main import remote_from_flags, serve
    from rootless.util.log import setup_logging

    setup_logging(log_level or app.settings.log_level)
    settings = app.settings
    if idle_time is not None:  # podman system service --time
        settings = dataclasses.replace(settings, idle_timeout=idle_time)
    remote = remote_from_flags(settings, hosts, tlsverify, tlscacert, tlscert, tlskey, insecure_tcp)
    serve(app.paths, settings, remote)
