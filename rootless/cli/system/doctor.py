"""`rootless doctor`: checks the host and prints the one command that fixes each problem."""
from __future__ import annotations

import sys

import click

from rootless.cli.app import App

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
    failed = [c.name for c in checks if c.status == "fail"] + (["config file"] if config_error else [])
    warned = [c for c in checks if c.status == "warn"]
    click.echo(f"\n{len(failed)} problem(s), {len(warned)} warning(s)")
    if failed:
        sys.exit(1)
