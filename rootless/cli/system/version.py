"""`rootless version`: client and daemon versions."""
from __future__ import annotations

import platform

import click

import rootless
from rootless.cli.app import App
from rootless.errors import Unavailable


@click.command()
@click.option("--format", "-f", "fmt", help="'json' for the raw API answer.")
@click.pass_obj
def version(app: App, fmt: str) -> None:
    """Show the client and daemon versions."""
    click.echo("Client:")
    click.echo(f" Version:     {rootless.__version__}")
    click.echo(f" Python:      {platform.python_version()}")
    try:
        data = app.client.version()
    except Unavailable as exc:
        click.echo(f"\nServer: unavailable: {exc.message}")
        return
    app.warn_if_stale(data.get("GitCommit", ""))
    if fmt == "json":
        app.echo_json(data)
        return
    click.echo("\nServer:")
    click.echo(f" Version:     {data['Version']}")
    click.echo(f" API version: {data['ApiVersion']} (minimum version {data['MinAPIVersion']})")
    click.echo(f" OS/Arch:     {data['Os']}/{data['Arch']}")
    click.echo(f" Kernel:      {data['KernelVersion']}")
    for component in data.get("Components", [])[1:]:
        click.echo(f" {component['Name']}:{' ' * max(1, 12 - len(component['Name']))}{component['Version']}")
