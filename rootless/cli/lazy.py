"""A click group whose subcommands are imported only when used (as pip does)."""
from __future__ import annotations

import importlib
from typing import Any, Dict, List, Optional

import click


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when used."""

    def __init__(self, *args: Any, lazy: Optional[Dict[str, str]] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> List[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        if cmd_name in self.lazy:
            module_name, attr = self.lazy[cmd_name].split(":")
            module = importlib.import_module(f"rootless.cli.{module_name}")
            return getattr(module, attr)  # type: ignore[no-any-return]
        return super().get_command(ctx, cmd_name)
