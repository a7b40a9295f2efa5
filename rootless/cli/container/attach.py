"""`rootless attach`: connect this terminal to a running container's streams."""
from __future__ import annotations

import click

from rootless.cli.app import App
from rootless.cli.container.streaming import check_tty_input, stream_session
from rootless.errors import FailedPrecondition


@click.command()
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN.")
@click.option("--sig-proxy", type=click.BOOL, default=True, show_default=True,
              help="Proxy all received signals to the process.")
@click.option("--detach-keys", default="", help="Key sequence for detaching (default ctrl-p,ctrl-q).")
@click.argument("container")
@click.pass_obj
def attach(app: App, no_stdin: bool, sig_proxy: bool, detach_keys: str, container: str) -> None:
    """Attach local standard input, output, and error streams to a running container."""
    client = app.client
    info = client.inspect_container(container)
    if not (info.get("State") or {}).get("Running"):
        raise FailedPrecondition("cannot attach to a stopped container, start it first")
    config = info.get("Config") or {}
    tty, stdin = bool(config.get("Tty")), bool(config.get("OpenStdin")) and not no_stdin
    check_tty_input(stdin, tty)
    container_id = info["Id"]
    stream = client.attach(container_id, stdin=stdin, detach_keys=detach_keys or None)
    detached = stream_session(
        stream, tty=tty, interactive=stdin, sig_proxy=sig_proxy, detach_keys=detach_keys,
        resize=lambda h, w: client.resize(container_id, h, w), kill=lambda s: client.kill(container_id, s))
    if detached:
        # docker's attach reports the detach as its error (term.EscapeError) and exits 1; run does not
        click.echo("read escape sequence", err=True)
        raise click.exceptions.Exit(1)
    raise click.exceptions.Exit(int(client.wait(container_id).get("StatusCode", 0)))
