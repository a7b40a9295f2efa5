"""`rootless version`: client and daemon versions."""
from __future__ import annotations

import platform
from typing import Any, Dict, Optional

import click

import rootless
from rootless.cli.app import App
from rootless.cli.format import compile_format
from rootless.errors import Unavailable


def client_version(api_version: str) -> Dict[str, Any]:
    """The Client half of `version --format` (docker's field names; the client speaks the daemon's API)."""
    return {"Version": rootless.__version__, "ApiVersion": api_version, "DefaultAPIVersion": api_version,
            "Platform": {"Name": "rootless"}, "Python": platform.python_version(),
            "Os": platform.system().lower(), "Arch": platform.machine()}


@click.command()
@click.option("--format", "-f", "fmt",
              help="Format output using a Go template ({{.Server.Version}}) or 'json'.")
@click.pass_obj
def version(app: App, fmt: str) -> None:
    """Show the client and daemon versions."""
    if fmt:
        _formatted(app, fmt)
        return
    click.echo("Client:")
    click.echo(f" Version:     {rootless.__version__}")
    click.echo(f" Python:      {platform.python_version()}")
    try:
        data = app.client.version()
    except Unavailable as exc:
        click.echo(f"\nServer: unavailable: {exc.message}")
        return
    app.warn_if_stale(data.get("GitCommit", ""))
    click.echo("\nServer:")
    click.echo(f" Version:     {data['Version']}")
    click.echo(f" API version: {data['ApiVersion']} (minimum version {data['MinAPIVersion']})")
    click.echo(f" OS/Arch:     {data['Os']}/{data['Arch']}")
    click.echo(f" Kernel:      {data['KernelVersion']}")
    for component in data.get("Components", [])[1:]:
        click.echo(f" {component['Name']}:{' ' * max(1, 12 - len(component['Name']))}{component['Version']}")


def _formatted(app: App, fmt: str) -> None:
    """docker's `version --format`: {"Client": ..., "Server": ...}; the client half even when
    the daemon is down, then its error (docker prints both too)."""
    template = compile_format(fmt)
    try:
        server: Optional[Dict[str, Any]] = app.client.version()
        failure: Optional[Unavailable] = None
    except Unavailable as exc:
        server, failure = None, exc
    client = client_version((server or {}).get("ApiVersion", ""))
    click.echo(template.render({"Client": client, "Server": server}))
    if failure is not None:
        raise failure
    app.warn_if_stale((server or {}).get("GitCommit", ""))
