"""`rootless login` / `logout`: registry credentials, checked and kept by the daemon."""
from __future__ import annotations

import sys
from typing import Optional

import click

from rootless.cli.app import App
from rootless.errors import InvalidArgument


def _password(password: Optional[str], password_stdin: bool) -> str:
    if password_stdin:
        if password:
            raise InvalidArgument("--password and --password-stdin are mutually exclusive")
        return sys.stdin.read().rstrip("\r\n")
    if password:
        click.echo("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", err=True)
        return password
    return str(click.prompt("Password", hide_input=True, err=True))


@click.command()
@click.option("-u", "--username", help="Username.")
@click.option("-p", "--password", help="Password or personal access token.")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin.")
@click.argument("server", required=False)
@click.pass_obj
def login(app: App, username: Optional[str], password: Optional[str], password_stdin: bool,
          server: Optional[str]) -> None:
    """Authenticate to a registry (Docker Hub when no server is given)."""
    if password_stdin and not username:
        raise InvalidArgument("must provide --username with --password-stdin")
    username = username or str(click.prompt("Username", err=True))
    result = app.client.login(username, _password(password, password_stdin), server, store=True)
    click.echo(result.get("Status") or "Login Succeeded")


@click.command()
@click.argument("server", required=False)
@click.pass_obj
def logout(app: App, server: Optional[str]) -> None:
    """Log out from a registry."""
    result = app.client.logout(server)
    registry = result.get("Registry") or server or "docker.io"
    if result.get("Removed"):
        click.echo(f"Removing login credentials for {registry}")
    else:
        click.echo(f"Not logged in to {registry}")
