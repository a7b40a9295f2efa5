"""The rows of docker's container and image listings: `ps`, `images` and `system df -v` format them."""
from __future__ import annotations

import time

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

from rootless.cli.humanize import display_ports, ellipsis, go_time, human_duration, human_size
from rootless.util.jsonlite import dumps_unicode

CONTAINER_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
                     "RunningFor": "CREATED", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES",
                     "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS", "State": "STATE", "Size": "SIZE",
                     "LocalVolumes": "LOCAL VOLUMES"}


def container_row(summary: Dict[str, Any], truncate: bool, now: Optional[float] = None) -> Dict[str, Any]:
    """One GET /containers/json entry as docker's ps formatting context."""
    cid = summary.get("Id", "")
    image = summary.get("Image", "")
    if truncate and image.startswith("sha256:"):
        image = image[len("sha256:"):][:12]
    command = summary.get("Command", "")
    created = summary.get("Created", 0)
    names = [n.lstrip("/") for n in summary.get("Names") or []]
    labels = summary.get("Labels") or {}
    mounts = [m.get("Name") or m.get("Source", "") for m in summary.get("Mounts") or []]
    size = container_size(summary)
    return {
        "ID": cid[:12] if truncate else cid, "Image": image,
        "Command": dumps_unicode(ellipsis(command, 20) if truncate else command),
        "CreatedAt": go_time(created), "RunningFor": human_duration((now or time.time()) - created) + " ago",
        "Status": summary.get("Status", ""), "State": summary.get("State", ""),
        "Ports": display_ports(summary.get("Ports") or []), "Names": ",".join(names),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Mounts": ",".join(ellipsis(m, 15) if truncate else m for m in mounts),
        "Networks": ",".join(sorted(((summary.get("NetworkSettings") or {}).get("Networks") or {}).keys())),
        "Size": size, "LocalVolumes": str(sum(1 for m in summary.get("Mounts") or [] if m.get("Type") == "volume")),
    }


IMAGE_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
                 "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
                 "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "SIZE",
                 "ReadOnly": "R/O"}
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
        "ReadOnly": "true" if summary.get("ReadOnly") else "false",  # a site image (podman's R/O column)
    }
    return [dict(base, Repository=repo, Tag=tag, Digest=digests.get(repo, NONE)) for repo, tag in pairs]


def container_size(summary: Dict[str, Any]) -> str:
    """docker/cli's SIZE: "0B (virtual 4.3MB)", 3 significant digits, no virtual part without SizeRootFs."""
    changed = human_size(summary.get("SizeRw") or 0, 3)
    total = summary.get("SizeRootFs") or 0
    return f"{changed} (virtual {human_size(total, 3)})" if total > 0 else changed
