"""`rootless tls generate`: a CA, the daemon's certificate and a client certificate in ~/.docker."""
from __future__ import annotations

import socket
from typing import Optional, Tuple

import click

from rootless.config.paths import docker_config_dir, tls_dir
from rootless.util import certs

DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")


@click.command()
@click.option("--name", "names", multiple=True, help="DNS name of the server (repeatable).")
@click.option("--ip", "ips", multiple=True, help="IP address of the server (repeatable).")
@click.option("--days", type=int, default=365, show_default=True, help="Validity of every certificate.")
@click.option("--server-dir", default=None, help="Where the daemon's files go (default ~/.config/rootless/tls).")
@click.option("--client-dir", default=None, help="Where the client's go (default $DOCKER_CERT_PATH or ~/.docker).")
@click.option("--force", is_flag=True, help="Replace existing files.")
def generate(names: Tuple[str, ...], ips: Tuple[str, ...], days: int, server_dir: Optional[str],
             client_dir: Optional[str], force: bool) -> None:
    """Make a CA, a server certificate for the given names and IPs, and a client certificate."""
    import os

    wanted = list(names) + list(ips) or [socket.gethostname(), *DEFAULT_NAMES]
    made = certs.generate(certs.CertRequest(names=wanted, days=days))
    client = client_dir or os.environ.get("DOCKER_CERT_PATH") or docker_config_dir()
    written = certs.install(made, server_dir or tls_dir(), client, force)
    for path in written:
        click.echo(path)
    click.echo(f"server names: {', '.join(wanted)}", err=True)
    click.echo("start the daemon with: rootless system service --tlsverify -H tcp://0.0.0.0:2376", err=True)
    click.echo(f"connect with: DOCKER_CERT_PATH={client} docker --tlsverify -H tcp://HOST:2376 ps", err=True)
