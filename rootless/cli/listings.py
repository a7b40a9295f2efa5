"""What `rootless ps` and `rootless images` print, without click.

The click commands (cli/container/ps.py, cli/image/ls.py) and the fast path
that parses their common flags without click (cli/fast.py) both print these
lines, so the two paths have one request and one output. Nothing here may
import click or typing: the fast path exists to skip them (bench/README.md
"CLI fast path").
"""
from __future__ import annotations

import time

from rootless.cli.common.rows import CONTAINER_HEADERS, IMAGE_HEADERS, container_row, image_rows
from rootless.cli.table import plain_rows

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Protocol, Sequence

    from rootless.client.base import ListClient
    from rootless.wire.filters import Filters

    class Connection(Protocol):
        """cli/app.py's App, or the fast path's cli/fast.Connection: the client is made on first use."""

        @property
        def client(self) -> ListClient: ...

PS_FORMAT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
IMAGES_FORMAT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
DIGESTS_FORMAT = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"


def ps_lines(app: Connection, all_: bool, quiet: bool, filters: Sequence[str], fmt: Optional[str], no_trunc: bool,
             last: int, latest: bool, size: bool) -> List[str]:
    """`ps`: GET /containers/json, one line per container (or --format's lines)."""
    limit = 1 if latest else (last if last > 0 else None)
    summaries = app.client.containers(all=all_ or limit is not None, limit=limit, size=size,
                                      filters=_parse_filters(filters))
    rows = [container_row(s, not no_trunc) for s in summaries]
    if quiet and not fmt:
        fmt = "{{.ID}}"
    fmt = fmt or (PS_FORMAT + ("\t{{.Size}}" if size else ""))
    return _format_rows(fmt, rows, CONTAINER_HEADERS)


def images_lines(app: Connection, all_: bool, quiet: bool, digests: bool, filters: Sequence[str], fmt: Optional[str],
                 no_trunc: bool, reference: Optional[str]) -> List[str]:
    """`images`: GET /images/json, one line per repository:tag (or --format's lines)."""
    wanted = _parse_filters(filters)
    if reference:
        wanted.setdefault("reference", []).append(reference)
    now = time.time()
    summaries = app.client.images(wanted, all_, digests)
    rows = [row for s in summaries for row in image_rows(s, not no_trunc, now)]
    if quiet and not fmt:
        fmt = "{{.ID}}"
    default = DIGESTS_FORMAT if digests else IMAGES_FORMAT
    if any(s.get("ReadOnly") for s in summaries):  # site images (additional_image_stores) are marked
        default += "\t{{.ReadOnly}}"
    return _format_rows(fmt or default, rows, IMAGE_HEADERS)


def _format_rows(fmt: str, rows: List[Dict[str, Any]], headers: Dict[str, str]) -> List[str]:
    """format_rows's lines; the template engine loads only for a format that needs it (cli/table.py)."""
    lines = plain_rows(fmt, rows, headers)
    if lines is None:
        from rootless.cli.format import format_rows

        lines = format_rows(fmt, rows, headers)
    return lines


def _parse_filters(flags: Sequence[str]) -> Filters:
    """--filter flags as the request's filters; wire/filters.py loads only when there are some."""
    if not flags:
        return {}
    from rootless.wire.filters import parse_flags

    return parse_flags(flags)
