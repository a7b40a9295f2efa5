"""A click group whose subcommands are imported only when used (as pip does)."""
from __future__ import annotations

import importlib
from typing import Any, Dict, List, Optional, Tuple

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
            command: click.Command = getattr(module, attr)
            if ctx.resilient_parsing:  # only while completing: name completion (cli/complete.py)
                from rootless.cli.complete import attach

                attach(command, module_name)
            return command
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: click.Context, args: List[str]
                        ) -> Tuple[Optional[str], Optional[click.Command], List[str]]:
        """click's, with the nearest verb suggested for an unknown one (`rootless psx`)."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            name = args[0] if args else ""
            if name and not ctx.resilient_parsing and name not in self.list_commands(ctx):
                import difflib

                close = difflib.get_close_matches(name, self.list_commands(ctx), n=1, cutoff=0.6)
                if close:
                    raise click.UsageError(f"{exc.message.rstrip('.')}: did you mean `{close[0]}`?", exc.ctx) from None
            raise

    def shell_complete(self, ctx: click.Context, incomplete: str) -> List[Any]:
        """Verb names without importing every verb's module (click's would, for their help)."""
        from click.shell_completion import CompletionItem

        names = [name for name in self.list_commands(ctx) if name.startswith(incomplete)]
        return [CompletionItem(name) for name in names] + [
            item for item in click.Command.shell_complete(self, ctx, incomplete)]
