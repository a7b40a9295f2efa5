"""`rootless context ...`: docker's contexts, in the docker CLI's own store (issue 14)."""
from __future__ import annotations

import os

import click

from rootless.cli.app import App
from rootless.cli.commands import CONTEXT_COMMANDS
from rootless.cli.lazy import LazyGroup
from rootless.config.contexts import DEFAULT, ContextStore


@click.group(cls=LazyGroup, lazy=CONTEXT_COMMANDS)
def context() -> None:
    """Manage contexts (shared with the docker CLI)."""


def current_name(app: App, store: ContextStore) -> str:
    """The context in effect, as docker resolves it: --context, DOCKER_HOST (default), DOCKER_CONTEXT, config."""
    if app.host_options.context:
        return app.host_options.context
    if app.host_options.hosts or os.environ.get("DOCKER_HOST"):
        return DEFAULT
    return os.environ.get("DOCKER_CONTEXT") or store.current()


def default_endpoint(app: App) -> str:
    """What the default context points at: DOCKER_HOST, else this user's daemon socket."""
    return os.environ.get("DOCKER_HOST") or f"unix://{app.paths.socket}"
