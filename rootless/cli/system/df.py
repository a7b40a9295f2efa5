"""`rootless system df`: disk usage of images, containers, local volumes and build cache.

The summary and `-v` tables follow docker/cli's formatter/disk_usage.go, except
one number: the images' RECLAIMABLE comes from the daemon ("Rootless"
extension of /system/df), which knows the layers that images used by
containers need. docker's CLI estimates it from SharedSize, which counts a
layer an in-use image shares with an unused one as reclaimable.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

import click

from rootless.cli.app import App
from rootless.cli.common.rows import CONTAINER_HEADERS, IMAGE_HEADERS, container_row, image_rows
from rootless.cli.format import format_rows
from rootless.cli.humanize import human_size

SUMMARY_FORMAT = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
SUMMARY_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
                   "Reclaimable": "RECLAIMABLE"}
IMAGES_FORMAT = ("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}"
                 "\t{{.UniqueSize}}\t{{.Containers}}")
CONTAINERS_FORMAT = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}"
                     "\t{{.Status}}\t{{.Names}}")
VOLUMES_FORMAT = "table {{.Name}}\t{{.Links}}\t{{.Size}}"
VOLUME_HEADERS = {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}


def _reclaimable(reclaimable: int, total: int) -> str:
    """"1.2MB (40%)", the share only when there is a total to share."""
    text = human_size(reclaimable)
    return f"{text} ({reclaimable * 100 // total}%)" if total > 0 else text


def _row(kind: str, total_count: int, active: int, size: int, reclaimable: int) -> Dict[str, str]:
    return {"Type": kind, "TotalCount": str(total_count), "Active": str(active), "Size": human_size(size),
            "Reclaimable": _reclaimable(reclaimable, size)}


def summary_rows(usage: Dict[str, Any]) -> List[Dict[str, str]]:
    """The four rows of `docker system df`."""
    images = usage.get("Images") or []
    layers_size = int(usage.get("LayersSize") or 0)
    used = sum(i["Size"] - i["SharedSize"] for i in images if i.get("Containers", 0) > 0)
    reclaimable = (usage.get("Rootless") or {}).get("ImagesReclaimable", layers_size - used)
    containers = usage.get("Containers") or []
    sizes = [(int(c.get("SizeRw") or 0), c.get("State") == "running") for c in containers]
    volumes = [(v.get("UsageData") or {}) for v in usage.get("Volumes") or []]
    volume_sizes = [(int(u.get("Size", -1)), int(u.get("RefCount", 0))) for u in volumes]
    cache = usage.get("BuildCache") or []
    cache_size = sum(int(c.get("Size") or 0) for c in cache)
    return [
        _row("Images", len(images), sum(1 for i in images if i.get("Containers", 0) > 0), layers_size,
             reclaimable),
        _row("Containers", len(containers), sum(1 for _, running in sizes if running),
             sum(s for s, _ in sizes), sum(s for s, running in sizes if not running)),
        _row("Local Volumes", len(volumes), sum(1 for _, refs in volume_sizes if refs > 0),
             sum(s for s, _ in volume_sizes if s > 0), sum(s for s, refs in volume_sizes if s > 0 and not refs)),
        _row("Build Cache", len(cache), 0, cache_size, cache_size),
    ]


def image_usage_rows(images: List[Dict[str, Any]], now: float) -> List[Dict[str, Any]]:
    rows = []
    for image in images:
        for row in image_rows(image, True, now):
            shared = int(image.get("SharedSize", -1))
            row.update(SharedSize=human_size(shared) if shared >= 0 else "N/A",
                       UniqueSize=human_size(image["Size"] - shared) if shared >= 0 else "N/A")
            rows.append(row)
    return rows


def verbose_lines(usage: Dict[str, Any], now: float) -> List[str]:
    """`docker system df -v`: one table per kind."""
    volumes = [{"Name": v.get("Name", ""), "Links": str((v.get("UsageData") or {}).get("RefCount", 0)),
                "Size": _volume_size(v)} for v in usage.get("Volumes") or []]
    containers = [dict(container_row(c, True, now), Size=human_size(int(c.get("SizeRw") or 0)))
                  for c in usage.get("Containers") or []]
    return (["Images space usage:", ""]
            + format_rows(IMAGES_FORMAT, image_usage_rows(usage.get("Images") or [], now), IMAGE_HEADERS)
            + ["", "Containers space usage:", ""]
            + format_rows(CONTAINERS_FORMAT, containers, CONTAINER_HEADERS)
            + ["", "Local Volumes space usage:", ""]
            + format_rows(VOLUMES_FORMAT, volumes, VOLUME_HEADERS)
            + ["", "Build cache usage: 0B"])


def _volume_size(volume: Dict[str, Any]) -> str:
    size = int((volume.get("UsageData") or {}).get("Size", -1))
    return human_size(size) if size >= 0 else "N/A"


@click.command()
@click.option("-v", "--verbose", is_flag=True, help="Show detailed information on space usage.")
@click.option("--format", "fmt", help="Format output using a Go template, 'table ...' or 'json'.")
@click.pass_obj
def df(app: App, verbose: bool, fmt: Optional[str]) -> None:
    """Show disk usage of images, containers and volumes."""
    if verbose and fmt:
        raise click.UsageError("the verbose and the format options conflict")
    usage = app.client.disk_usage()
    lines = (verbose_lines(usage, time.time()) if verbose
             else format_rows(fmt or SUMMARY_FORMAT, summary_rows(usage), SUMMARY_HEADERS))
    for line in lines:
        click.echo(line)
