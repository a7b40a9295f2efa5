"""`rootless context rm NAME...`."""
from __future__ import annotations

from typing import Tuple

import click

from rootless.config.contexts import DEFAULT, ContextStore
from rootless.errors import FailedPrecondition, InvalidArgument


@click.command()
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Also remove the context in use.")
def rm(names: Tuple[str, ...], force: bool) -> None:
    """Remove contexts."""
    store = ContextStore()
    for name in names:
        if name == DEFAULT:
            raise InvalidArgument("default: context \"default\" cannot be removed")
        if store.current() == name:
            if not force:
                raise FailedPrecondition(f"context {name!r} is in use", hint="use -f, or switch with 'context use'")
            store.use(DEFAULT)
        store.remove(name)
        click.echo(name)
