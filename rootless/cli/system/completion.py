"""`rootless completion bash|zsh|fish`: the shell script that completes verbs, flags and names."""
from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    bash: rootless completion bash > ~/.local/share/bash-completion/completions/rootless
    zsh:  rootless completion zsh > "${fpath[1]}/_rootless"   (or: eval "$(rootless completion zsh)")
    fish: rootless completion fish > ~/.config/fish/completions/rootless.fish
    """
    from click.shell_completion import get_completion_class

    from rootless.cli.root import cli

    cls = get_completion_class(shell)
    assert cls is not None  # click ships all three
    click.echo(cls(cli, {}, "rootless", "_ROOTLESS_COMPLETE").source())
