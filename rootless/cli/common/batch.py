"""Apply a verb to several objects (containers, volumes, networks), as docker does: report each failure,
exit 1 at the end."""
from __future__ import annotations

from typing import Callable, Iterable, Optional

import click

from rootless.errors import NotFound, RootlessError


def for_each(names: Iterable[str], action: Callable[[str], Optional[str]],
             ignore_missing: bool = False) -> None:
    """Run action(name) for every name; print what it returns (the name by default).

    Errors go to stderr and make the exit status 1 after all names were tried;
    with ignore_missing a NotFound is reported but does not fail (`rm -f`).
    """
    failed = False
    for name in names:
        try:
            shown = action(name)
        except NotFound as exc:
            click.echo(f"Error: {exc.message}", err=True)
            failed = failed or not ignore_missing
            continue
        except RootlessError as exc:
            click.echo(f"Error: {exc.message}", err=True)
            failed = True
            continue
        click.echo(name if shown is None else shown)
    if failed:
        raise click.exceptions.Exit(1)
