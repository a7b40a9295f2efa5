"""`rootless system prune`: docker's system prune, one API prune after another.

The order, prompt and output are docker/cli's cli/command/system/prune.go: stopped
containers, unused networks, (with --volumes) anonymous volumes, dangling (with -a
all unused) images, then the build cache; each non-empty report, then the total.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Tuple

import click

from rootless.cli.app import App
from rootless.cli.humanize import human_size
from rootless.wire.filters import Filters, parse_flags

Report = Tuple[int, List[str]]  # space reclaimed, output lines


def warnings(all_: bool, volumes: bool) -> List[str]:
    """What the prompt lists, in docker's words."""
    items = ["all stopped containers", "all networks not used by at least one container"]
    if volumes:
        items.append("all anonymous volumes not used by at least one container")
    items.append("all images without at least one container associated to them" if all_ else "all dangling images")
    items.append("all build cache" if all_ else "unused build cache")
    return items


def confirmation(all_: bool, volumes: bool, filters: Filters) -> str:
    lines = ["WARNING! This will remove:"] + [f"  - {w}" for w in warnings(all_, volumes)]
    shown = sorted(f"{key}={value}" for key in ("label", "label!", "until") for value in filters.get(key, []))
    if shown:
        lines += ["", "  Items to be pruned will be filtered with:"] + [f"  - {item}" for item in shown]
    return "\n".join(lines + ["", "Are you sure you want to continue?"])


def _listing(title: str, names: List[str]) -> List[str]:
    return [f"Deleted {title}:"] + names if names else []


def _containers(app: App, filters: Filters, all_: bool) -> Report:
    report = app.client.prune_containers(filters or None)
    deleted = report.get("ContainersDeleted") or []
    return (report.get("SpaceReclaimed") or 0) if deleted else 0, _listing("Containers", deleted)


def _networks(app: App, filters: Filters, all_: bool) -> Report:
    report = app.client.prune_networks(filters or None)
    return 0, _listing("Networks", report.get("NetworksDeleted") or [])


def _volumes(app: App, filters: Filters, all_: bool) -> Report:
    report = app.client.prune_volumes(filters or None)  # anonymous ones only, as docker's system prune
    deleted = report.get("VolumesDeleted") or []
    return (report.get("SpaceReclaimed") or 0) if deleted else 0, _listing("Volumes", deleted)


def _images(app: App, filters: Filters, all_: bool) -> Report:
    wanted = dict(filters, dangling=["false"]) if all_ else dict(filters)
    report = app.client.prune_images(wanted or None)
    deleted: List[Dict[str, str]] = report.get("ImagesDeleted") or []
    lines = [f"{key.lower()}: {value}" for item in deleted for key, value in item.items()]
    return (report.get("SpaceReclaimed") or 0) if lines else 0, _listing("Images", lines)


def _build_cache(app: App, filters: Filters, all_: bool) -> Report:
    report = app.client.prune_builds(filters or None, all=all_)
    deleted = report.get("CachesDeleted") or []
    lines = ["Deleted build cache objects:"] + deleted if deleted else []
    return report.get("SpaceReclaimed") or 0, lines


STEPS: List[Callable[[App, Filters, bool], Report]] = [_containers, _networks, _volumes, _images, _build_cache]


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images not just dangling ones.")
@click.option("--volumes", is_flag=True, help="Prune anonymous volumes.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'label=<key>=<value>').")
@click.pass_obj
def prune(app: App, all_: bool, volumes: bool, force: bool, filters: Tuple[str, ...]) -> None:
    """Remove unused data: stopped containers, unused networks, dangling images, build cache."""
    wanted = parse_flags(filters)
    if volumes and "until" in wanted:
        raise click.UsageError('The "until" filter is not supported with "--volumes"')  # docker's words
    if not force and not click.confirm(confirmation(all_, volumes, wanted)):
        return
    total = 0
    for step in STEPS:
        if step is _volumes and not volumes:
            continue
        space, lines = step(app, wanted, all_)
        total += space
        if lines:
            click.echo("\n".join(lines) + "\n")
    click.echo(f"Total reclaimed space: {human_size(total)}")
