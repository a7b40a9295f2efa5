"""Rendering docker's JSON progress stream (moby pkg/jsonmessage DisplayJSONMessagesStream).

On a terminal every layer keeps its own line, rewritten in place with ANSI
cursor moves; otherwise each status is one plain line and byte counters are
left out, as docker does. A terminal line never reaches the last column: one
that wrapped would take two rows and every later cursor move would land on the
wrong layer (issue 11), so the bar shrinks to the room left and goes below 10.
"""
from __future__ import annotations

import os
from typing import IO, Any, Dict, Iterable, List, Optional

from rootless.cli.humanize import human_size
from rootless.errors import RootlessError, error_from_status

BAR_WIDTH = 50  # moby's bar at 110 columns and more
MIN_BAR = 10  # narrower than this a bar says nothing: numbers only


def in_band_error(message: Dict[str, Any]) -> Optional[RootlessError]:
    """The error an {"errorDetail": ...} line carries, or None."""
    if not (message.get("error") or message.get("errorDetail")):
        return None
    detail = message.get("errorDetail") or {}
    text = message.get("error") or detail.get("message") or "failed"
    return error_from_status(500, text)


def _line(message: Dict[str, Any], with_bar: bool, columns: int = 0) -> str:
    text: str = message.get("status") or message.get("stream", "").rstrip("\n")
    head = f"{message['id']}: {text}" if message.get("id") else text
    if not with_bar:
        return head
    detail = message.get("progressDetail") or {}
    if columns <= 0:
        return f"{head} {message['progress']}" if message.get("progress") else head
    if isinstance(detail.get("current"), int):
        head = f"{head} {fit_bar(detail['current'], int(detail.get('total') or 0), columns - len(head) - 2)}"
    return head[:columns - 1]


def terminal_columns(out: IO[str]) -> int:
    """$COLUMNS, else the terminal's width, else 80 (shutil.get_terminal_size's rule, without
    importing shutil on every verb's path)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(out.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return 80


def fit_bar(current: int, total: int, room: int) -> str:
    """moby's "[===>   ] 1.2MB/3.4MB" in at most room characters: the bar shrinks, then goes."""
    if total <= 0:
        return f"{human_size(current):>8}"
    numbers = f"{human_size(current):>8}/{human_size(total)}" if current <= total else ""
    width = min(BAR_WIDTH, room - len(numbers) - 4)  # "[", ">", "] "
    if width < MIN_BAR:
        return numbers.strip()
    filled = min(current * width // total, width)
    return f"[{'=' * filled}>{' ' * (width - filled)}] {numbers}"


class ProgressPrinter:
    """Feeds messages to out; keeps per-layer lines on a TTY; prints nothing when quiet."""

    def __init__(self, out: IO[str], tty: bool, quiet: bool = False, columns: int = 0) -> None:
        self.out, self.tty, self.quiet = out, tty, quiet
        self.columns = columns or (terminal_columns(out) if tty else 0)
        self.ids: List[str] = []
        self.aux: List[Dict[str, Any]] = []

    def show(self, message: Dict[str, Any]) -> None:
        error = in_band_error(message)
        if error is not None:
            raise error
        if "aux" in message:
            self.aux.append(message["aux"])
        elif self.quiet:
            return
        elif not self.tty:
            if message.get("progressDetail", {}).get("current") is None and _line(message, False):
                self.out.write(_line(message, False) + "\n")
        elif message.get("id"):
            self._rewrite(message)
        elif _line(message, True, self.columns):
            self.out.write(_line(message, True, self.columns) + "\n")
        self.out.flush()

    def _rewrite(self, message: Dict[str, Any]) -> None:
        layer = message["id"]
        if layer not in self.ids:
            self.ids.append(layer)
            self.out.write(_line(message, True, self.columns) + "\n")
            return
        up = len(self.ids) - self.ids.index(layer)
        # Up to the layer's line, clear it, write, and come back down.
        self.out.write(f"\x1b[{up}A\x1b[2K\r{_line(message, True, self.columns)}\n")
        if up > 1:
            self.out.write(f"\x1b[{up - 1}B")


def show_progress(messages: Iterable[Dict[str, Any]], out: IO[str], tty: bool,
                  quiet: bool = False, columns: int = 0) -> List[Dict[str, Any]]:
    """Render a stream to out (nothing when quiet); returns the aux objects; raises in-band errors."""
    printer = ProgressPrinter(out, tty, quiet, columns)
    for message in messages:
        printer.show(message)
    return printer.aux
