"""`rootless system stop`: stop the daemon cleanly (containers keep running)."""
from __future__ import annotations

import os
import signal
import time

import click

from rootless.cli.app import App
from rootless.errors import Unavailable
from rootless.util import fs


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@click.command()
@click.option("--timeout", "-t", default=30.0, show_default=True, help="Seconds to wait for the exit.")
@click.option("--all", "everything", is_flag=True, help="Also end the namespaces (stops every container).")
@click.pass_obj
def stop(app: App, timeout: float, everything: bool) -> None:
    """Stop rootlessd for this user."""
    paths = app.daemon_paths()
    pid = int((fs.read_json(paths.daemon_pidfile) or {}).get("pid", 0))
    if pid and _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                raise Unavailable(f"rootlessd (pid {pid}) did not stop within {timeout:.0f}s")
            time.sleep(0.02)
        click.echo(f"rootlessd (pid {pid}) stopped")
    else:
        click.echo("rootlessd is not running")
    if everything:
        from rootless.host.userns import stop_pause

        if stop_pause(paths):
            click.echo("namespaces released")
