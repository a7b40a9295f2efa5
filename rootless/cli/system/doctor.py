"""`rootless doctor`: checks the host and prints the one command that fixes each problem."""
from __future__ import annotations

import sys
from typing import Optional, Tuple

import click

from rootless.cli.app import App
from rootless.errors import RootlessError

MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


@click.command()
@click.pass_obj
def doctor(app: App) -> None:
    """Check that this host can run rootless containers for you."""
    # Imported here: doctor must work when the daemon can't start (see host/doctor.py).
    from rootless.host.doctor import run_checks

    config_error = app.config_error()
    checks = run_checks(app.lenient_paths.root)
    if config_error is not None:  # reported as a check: the others still run (issue 11)
        click.echo(f"[{MARK['fail']}] config file: {config_error.message}")
        click.echo(f"       fix: {config_error.hint or 'correct the file (see README, Configuration)'}")
    for check in checks:
        click.echo(f"[{MARK[check.status]}] {check.name}: {check.detail}")
        if check.fix and check.status != "ok":
            click.echo(f"       fix: {check.fix}")
    image_format = _image_format(app)
    if image_format is not None:
        click.echo(f"[{MARK[image_format[0]]}] image format: {image_format[1]}")
        if image_format[0] != "ok":
            click.echo("       fix: rootless image convert")
    failed = [c.name for c in checks if c.status == "fail"] + (["config file"] if config_error else [])
    warned = [c for c in checks if c.status == "warn"] + ([image_format] if image_format and image_format[0] == "warn"
                                                         else [])
    click.echo(f"\n{len(failed)} problem(s), {len(warned)} warning(s)")
    if failed:
        sys.exit(1)


def _image_format(app: App) -> Optional[Tuple[str, str]]:
    """(status, detail) from the user's running daemon, which knows its store (issue 15); None when
    none runs: doctor never starts one."""
    from rootless.client.api import APIClient

    try:
        endpoint = app.endpoint()
        if not endpoint.local:
            return None
        client = APIClient(endpoint.target)
        client.ping()
        ours = client.info().get("Rootless") or {}
    except (RootlessError, OSError):
        return None
    if "ImageFormat" not in ours:
        return None  # an older daemon
    left = int(ours.get("ImagesNotInFormat") or 0)
    if not left:
        return "ok", f"{ours['ImageFormat']}: every image of yours is stored that way"
    return "warn", f"{left} image(s) not yet stored as the configured image_format {ours['ImageFormat']!r}"
