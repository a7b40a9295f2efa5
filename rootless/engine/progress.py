"""docker's JSON progress messages (pull, push, load), as the CLI renders them.

Shapes follow moby's pkg/jsonmessage: {"status", "id", "progressDetail",
"progress"}; sizes use docker/go-units HumanSize (decimal, 4 significant digits).
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Optional

from rootless.errors import Unavailable
from rootless.util.digest import digest_hex

Event = Dict[str, Any]
Emit = Callable[[Event], None]

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")
_BAR_WIDTH = 50
# How often one layer may report bytes: enough for a smooth bar, few lines.
_MIN_INTERVAL = 0.1


def human_size(size: float) -> str:
    """go-units HumanSize: 1234567 -> "1.235MB"."""
    unit = 0
    while size >= 1000 and unit < len(_UNITS) - 1:
        size /= 1000.0
        unit += 1
    return f"{size:.4g}{_UNITS[unit]}"


def progress_bar(current: int, total: int) -> str:
    """"[=====>      ] 1.2MB/3.4MB", as moby's JSONProgress.String()."""
    if total <= 0:
        return f"{human_size(current):>8}"
    filled = min(int(current * 100 / total) // 2, _BAR_WIDTH)
    bar = "=" * filled + ">" + " " * (_BAR_WIDTH - filled)
    return f"[{bar}] {human_size(current):>8}/{human_size(total)}"


def short_id(digest: str) -> str:
    """The 12-hex id docker shows for a layer."""
    return digest_hex(digest)[:12]


def status(text: str, layer_id: Optional[str] = None, detail: bool = False) -> Event:
    """A status line; detail adds the empty progressDetail docker sends with layer states."""
    event: Event = {"status": text}
    if detail:
        event["progressDetail"] = {}
    if layer_id is not None:
        event["id"] = layer_id
    return event


def progress(text: str, layer_id: str, current: int, total: int) -> Event:
    return {"status": text, "progressDetail": {"current": current, "total": total},
            "progress": progress_bar(current, total), "id": layer_id}


class ByteCounter:
    """A progress callback for one blob: counts bytes, emits throttled events, honours cancel."""

    def __init__(self, emit: Emit, text: str, layer_id: str, total: int,
                 cancelled: Optional[threading.Event] = None) -> None:
        self.emit, self.text, self.layer_id, self.total = emit, text, layer_id, total
        self.cancelled = cancelled
        self.current = 0
        self._last = 0.0

    def __call__(self, count: int) -> None:
        if self.cancelled is not None and self.cancelled.is_set():
            raise Unavailable(f"{self.text.lower()} {self.layer_id}: cancelled")
        self.current += count
        now = time.monotonic()
        if now - self._last >= _MIN_INTERVAL or self.current >= self.total:
            self._last = now
            self.emit(progress(self.text, self.layer_id, self.current, self.total))
