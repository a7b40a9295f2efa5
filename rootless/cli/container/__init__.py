"""`rootless container ...`: docker's container verbs, each in its own module.

The `container` group is made on first use (PEP 562): `run`'s fast path
(cli/fast_run.py) imports modules of this package and must not import click.
"""
from __future__ import annotations

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    import click


def _make_group() -> click.Group:
    import click

    from rootless.cli.commands import CONTAINER_COMMANDS
    from rootless.cli.lazy import LazyGroup

    @click.group(cls=LazyGroup, lazy=CONTAINER_COMMANDS)
    def container() -> None:
        """Manage containers."""

    return container


def __getattr__(name: str) -> click.Group:
    if name != "container":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    group = _make_group()
    globals()["container"] = group  # made once: later lookups find the attribute itself
    return group
