"""`rootless images`: list images with docker's columns, --digests, --filter and --format."""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.filters import parse_filter_flags
from rootless.cli.format import format_rows
from rootless.cli.humanize import go_time, human_duration, human_size

DEFAULT_FORMAT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
DIGESTS_FORMAT = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
           "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
           "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "SIZE"}
NONE = "<none>"


def _split(reference: str, separator: str) -> Tuple[str, str]:
    cut = reference.rfind(separator)
    if separator == ":" and cut < reference.rfind("/"):
        return reference, NONE
    return (reference[:cut], reference[cut + 1:]) if cut > 0 else (reference, NONE)


def image_rows(summary: Dict[str, Any], truncate: bool, now: float) -> List[Dict[str, Any]]:
    """docker's rows for one image: one per tag, or one <none> row (per repo digest)."""
    image_id = summary.get("Id", "")
    digests = dict(_split(d, "@") for d in summary.get("RepoDigests") or [])
    pairs = [_split(t, ":") for t in summary.get("RepoTags") or []]
    if not pairs:
        pairs = [(repo, NONE) for repo in digests] or [(NONE, NONE)]
    created = summary.get("Created", 0)
    base = {
        "ID": image_id[len("sha256:"):][:12] if truncate else image_id,
        "CreatedSince": human_duration(now - created) + " ago", "CreatedAt": go_time(created),
        "Size": human_size(summary.get("Size", 0)), "VirtualSize": human_size(summary.get("Size", 0)),
        "Containers": "N/A" if summary.get("Containers", -1) < 0 else str(summary["Containers"]),
        "SharedSize": "N/A", "UniqueSize": "N/A",
    }
    return [dict(base, Repository=repo, Tag=tag, Digest=digests.get(repo, NONE)) for repo, tag in pairs]


@click.command("images")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all images (default hides intermediate images).")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("--digests", is_flag=True, help="Show digests.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided.")
@click.option("--format", "fmt", help="Format output using a Go template, 'table ...' or 'json'.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.argument("reference", required=False)
@click.pass_obj
def images(app: App, all_: bool, quiet: bool, digests: bool, filters: Tuple[str, ...], fmt: Optional[str],
           no_trunc: bool, reference: Optional[str]) -> None:
    """List images."""
    wanted = parse_filter_flags(filters)
    if reference:
        wanted.setdefault("reference", []).append(reference)
    now = time.time()
    rows = [row for s in app.client.images(wanted, all_, digests) for row in image_rows(s, not no_trunc, now)]
    if quiet and not fmt:
        fmt = "{{.ID}}"
    for line in format_rows(fmt or (DIGESTS_FORMAT if digests else DEFAULT_FORMAT), rows, HEADERS):
        click.echo(line)
