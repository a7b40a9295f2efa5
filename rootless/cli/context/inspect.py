"""`rootless context inspect [NAME...]`: docker's JSON, from the shared store."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Tuple

import click

from rootless.cli.app import App
from rootless.cli.context import current_name, default_endpoint
from rootless.config.contexts import DEFAULT, ENDPOINT, ContextStore


def inspect_context(app: App, store: ContextStore, name: str) -> Dict[str, Any]:
    if name == DEFAULT:
        return {"Name": DEFAULT, "Metadata": {},
                "Endpoints": {ENDPOINT: {"Host": default_endpoint(app), "SkipTLSVerify": False}},
                "TLSMaterial": {}, "Storage": {"MetadataPath": "<IN MEMORY>", "TLSPath": "<IN MEMORY>"}}
    ctx = store.get(name)
    tls = sorted(os.listdir(ctx.tls_dir)) if ctx.tls_dir else []
    return {"Name": ctx.name, "Metadata": ctx.raw.get("Metadata") or {}, "Endpoints": ctx.raw.get("Endpoints", {}),
            "TLSMaterial": {ENDPOINT: tls} if tls else {},
            "Storage": {"MetadataPath": store.meta_dir(name), "TLSPath": os.path.dirname(store.tls_dir(name))}}


@click.command()
@click.argument("names", nargs=-1)
@click.pass_obj
def inspect(app: App, names: Tuple[str, ...]) -> None:
    """Show contexts as JSON (the current one without a name)."""
    store = ContextStore()
    found: List[Dict[str, Any]] = [inspect_context(app, store, n) for n in names or (current_name(app, store),)]
    app.echo_json(found)
