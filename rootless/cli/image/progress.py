"""Rendering docker's JSON progress stream (moby pkg/jsonmessage DisplayJSONMessagesStream).

On a terminal every layer keeps its own line, rewritten in place with ANSI
cursor moves; otherwise each status is one plain line and byte counters are
left out, as docker does.
"""
from __future__ import annotations

from typing import IO, Any, Dict, Iterable, List, Optional

from rootless.errors import RootlessError, error_from_status


def in_band_error(message: Dict[str, Any]) -> Optional[RootlessError]:
    """The error an {"errorDetail": ...} line carries, or None."""
    if not (message.get("error") or message.get("errorDetail")):
        return None
    detail = message.get("errorDetail") or {}
    text = message.get("error") or detail.get("message") or "failed"
    return error_from_status(500, text)


def _line(message: Dict[str, Any], with_bar: bool) -> str:
    text: str = message.get("status") or message.get("stream", "").rstrip("\n")
    if with_bar and message.get("progress"):
        text = f"{text} {message['progress']}"
    return f"{message['id']}: {text}" if message.get("id") else text


class ProgressPrinter:
    """Feeds messages to out; keeps per-layer lines on a TTY; prints nothing when quiet."""

    def __init__(self, out: IO[str], tty: bool, quiet: bool = False) -> None:
        self.out, self.tty, self.quiet = out, tty, quiet
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
        elif _line(message, True):
            self.out.write(_line(message, True) + "\n")
        self.out.flush()

    def _rewrite(self, message: Dict[str, Any]) -> None:
        layer = message["id"]
        if layer not in self.ids:
            self.ids.append(layer)
            self.out.write(_line(message, True) + "\n")
            return
        up = len(self.ids) - self.ids.index(layer)
        # Up to the layer's line, clear it, write, and come back down.
        self.out.write(f"\x1b[{up}A\x1b[2K\r{_line(message, True)}\n")
        if up > 1:
            self.out.write(f"\x1b[{up - 1}B")


def show_progress(messages: Iterable[Dict[str, Any]], out: IO[str], tty: bool,
                  quiet: bool = False) -> List[Dict[str, Any]]:
    """Render a stream to out (nothing when quiet); returns the aux objects; raises in-band errors."""
    printer = ProgressPrinter(out, tty, quiet)
    for message in messages:
        printer.show(message)
    return printer.aux
