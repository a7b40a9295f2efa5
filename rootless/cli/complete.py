"""Shell completion of object names: containers, images, volumes, networks, contexts (issue 11).

Loaded only while completing (cli/lazy.py attaches these to a verb's
parameters when click parses resiliently for completion), so no verb pays for
it. Each lookup asks the running daemon with a short timeout and never starts
one; any error completes nothing, silently: a shell prompt is no place for a
traceback.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional

import click
from click.shell_completion import CompletionItem

TIMEOUT = 2.0

# Parameter names that mean one kind of object whatever the verb.
BY_PARAM = {"container": "containers", "containers": "containers", "image": "images", "images": "images",
            "network": "networks"}
# Names whose kind depends on the verb's module ("group.module"); a module prefix covers a group.
BY_MODULE = {
    ("volume.inspect", "names"): "volumes", ("volume.rm", "names"): "volumes",
    ("network.inspect", "names"): "networks", ("network.rm", "names"): "networks",
    ("context.inspect", "names"): "contexts", ("context.rm", "names"): "contexts",
    ("context.use", "name"): "contexts", ("image.push", "name"): "images", ("image.tag", "source"): "images",
    ("image.ls", "reference"): "images", ("image.save", "images"): "images",
    ("container.inspect", "names"): "containers+images",
}


def attach(command: click.Command, module_name: str) -> None:
    """Give command's name parameters a completion that asks the daemon (group commands: nothing)."""
    for param in command.params:
        name = param.name or ""
        kind = BY_MODULE.get((module_name, name)) or BY_PARAM.get(name)
        if kind and (isinstance(param, click.Argument) or name == "network"):
            param._custom_shell_complete = _completer(kind)


def _completer(kind: str) -> Callable[[click.Context, click.Parameter, str], List[CompletionItem]]:
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[CompletionItem]:
        try:
            names = [n for part in kind.split("+") for n in LOOKUPS[part](ctx)]
        except Exception:  # noqa: BLE001 — completion must stay silent (no daemon, a broken config, ...)
            return []
        return [CompletionItem(n) for n in sorted(set(names)) if n.startswith(incomplete)]

    return complete


def _client(ctx: click.Context) -> Any:
    """A client for the endpoint the command would use, without starting a daemon."""
    from rootless.cli.app import App
    from rootless.client.api import APIClient
    from rootless.client.endpoint import HostOptions

    params: Dict[str, Any] = ctx.find_root().params
    options = HostOptions(hosts=tuple(params.get("hosts") or ()), context=params.get("context") or "",
                          tls_verify=bool(params.get("tlsverify")), tls_cacert=params.get("tlscacert") or "",
                          tls_cert=params.get("tlscert") or "", tls_key=params.get("tlskey") or "",
                          insecure_tcp=bool(params.get("insecure_tcp")))
    app = App(storage_root=params.get("root"), host_options=options)
    app.quiet = True
    endpoint = app.endpoint()
    if endpoint.local and not os.path.exists(app.run_paths.socket):
        from rootless.config.running import find_running

        other: Optional[Any] = find_running(app.lenient_paths.root)
        return APIClient(other.socket, timeout=TIMEOUT) if other else None
    if endpoint.local:
        app.run_paths.has_run_dir()
    return APIClient(endpoint.target, timeout=TIMEOUT)


def _containers(ctx: click.Context) -> List[str]:
    client = _client(ctx)
    return [] if client is None else [n.lstrip("/") for c in client.containers(all=True) for n in c.get("Names") or []]


def _images(ctx: click.Context) -> List[str]:
    client = _client(ctx)
    return [] if client is None else [t for i in client.images() for t in i.get("RepoTags") or [] if "<none>" not in t]


def _volumes(ctx: click.Context) -> List[str]:
    client = _client(ctx)
    return [] if client is None else [v["Name"] for v in client.volumes().get("Volumes") or []]


def _networks(ctx: click.Context) -> List[str]:
    client = _client(ctx)
    return [] if client is None else [n["Name"] for n in client.networks()]


def _contexts(ctx: click.Context) -> List[str]:
    from rootless.config.contexts import DEFAULT, ContextStore

    return [DEFAULT, *ContextStore(os.environ).names()]


LOOKUPS: Dict[str, Callable[[click.Context], List[str]]] = {
    "containers": _containers, "images": _images, "volumes": _volumes, "networks": _networks,
    "contexts": _contexts,
}
