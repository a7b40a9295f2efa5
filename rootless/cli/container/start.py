"""`rootless start`: start stopped containers; with -a, stream and exit with the container's status."""
from __future__ import annotations

from typing import Tuple

import click

from rootless.cli.app import App
from rootless.cli.common.batch import for_each
from rootless.cli.container.streaming import check_tty_input, run_attached, start_container
from rootless.errors import InvalidArgument


@click.command()
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals.")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN.")
@click.option("--detach-keys", default="", help="Key sequence for detaching a container.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def start(app: App, attach: bool, interactive: bool, detach_keys: str, containers: Tuple[str, ...]) -> None:
    """Start one or more stopped containers."""
    if not (attach or interactive):
        for_each(containers, lambda name: start_container(app, name))
        return
    if len(containers) > 1:
        raise InvalidArgument("you cannot start and attach multiple containers at once")
    config = app.client.inspect_container(containers[0]).get("Config") or {}
    tty = bool(config.get("Tty"))
    stdin = interactive and bool(config.get("OpenStdin"))
    check_tty_input(stdin, tty)
    status = run_attached(app, containers[0], tty=tty, interactive=stdin, condition="next-exit",
                          sig_proxy=True, detach_keys=detach_keys)
    raise click.exceptions.Exit(status)
