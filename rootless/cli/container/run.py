"""`rootless run`: create, attach, wait, start, stream; exit with the container's status.

The call order is docker's (DOCKER-API.md section 3): attach and wait are
sent before start so no output and no exit is missed.
"""
from __future__ import annotations

from typing import Any

import click

from rootless.cli.app import App
from rootless.cli.container.body import CreateOptions
from rootless.cli.container.creating import create_container
from rootless.cli.container.flags import CREATE_CONTEXT, create_options
from rootless.cli.container.streaming import check_tty_input, console_size, run_attached, start_container


@click.command(context_settings=CREATE_CONTEXT)
@click.option("-d", "--detach", is_flag=True, help="Run in the background and print the container ID.")
@click.option("--sig-proxy", type=click.BOOL, default=True, show_default=True,
              help="Proxy received signals to the process (non-TTY).")
@click.option("--detach-keys", default="", help="Key sequence for detaching (default ctrl-p,ctrl-q).")
@create_options
@click.pass_obj
# app is positional-only: click's pass_obj (Concatenate[T, P]) cannot bind a named first
# parameter next to **flags; it passes the object positionally anyway.
def run(app: App, /, sig_proxy: bool, detach_keys: str, image: str, command: Any, pull: str,
        platform: Any, **flags: Any) -> None:
    """Create and run a new container from an image."""
    opts = CreateOptions.from_kwargs(flags)
    if not opts.detach:
        check_tty_input(opts.interactive, opts.tty)
    if opts.tty:
        opts.console_size = console_size()
    container_id = create_container(app, opts, image, command, pull, platform)
    if opts.detach:
        start_container(app, container_id)
        click.echo(container_id)
        return
    status = run_attached(app, container_id, tty=opts.tty, interactive=opts.interactive,
                          condition="removed" if opts.rm else "next-exit", sig_proxy=sig_proxy,
                          detach_keys=detach_keys)
    raise click.exceptions.Exit(status)
