"""Inspecting objects by name, docker's way: a JSON array or one template per object, misses on stderr."""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import click

from rootless.cli.app import App
from rootless.cli.format import compile_format
from rootless.errors import NotFound


def _inspectors(app: App, size: bool) -> Dict[str, Callable[[str], Dict[str, Any]]]:
    client = app.client
    return {
        "container": lambda name: client.inspect_container(name, size=size),
        "image": client.inspect_image,
        "volume": client.inspect_volume,
        "network": client.inspect_network,
    }


def find_object(inspectors: Dict[str, Callable[[str], Dict[str, Any]]], kinds: Sequence[str],
                name: str) -> Optional[Dict[str, Any]]:
    """The first object of kinds called name, or None."""
    for kind in kinds:
        try:
            return inspectors[kind](name)
        except NotFound:
            continue
    return None


def print_inspected(objects: List[Dict[str, Any]], fmt: Optional[str]) -> None:
    """A JSON array (docker's 4-space indent) or one rendered template per object."""
    if not fmt:
        click.echo(json.dumps(objects, indent=4, ensure_ascii=False))
        return
    template = compile_format(fmt)
    for obj in objects:
        click.echo(template.render(obj))


def inspect_names(app: App, names: Tuple[str, ...], kinds: Sequence[str], fmt: Optional[str],
                  size: bool = False) -> None:
    """Inspect every name; report the missing ones and exit 1 after printing the rest."""
    if fmt:
        compile_format(fmt)  # a bad template fails before any request, even when nothing is found
    inspectors = _inspectors(app, size)
    found, missing = [], []
    for name in names:
        obj = find_object(inspectors, kinds, name)
        if obj is None:
            missing.append(name)
        else:
            found.append(obj)
    if found or not fmt:
        print_inspected(found, fmt)
    for name in missing:
        what = f"No such {kinds[0]}" if len(kinds) == 1 else "No such object"
        click.echo(f"Error: {what}: {name}", err=True)
    if missing:
        raise click.exceptions.Exit(1)
