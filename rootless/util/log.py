"""Logging set-up shared by the daemon and the CLI."""
from __future__ import annotations

import logging
import os
import sys
from typing import Mapping, Optional

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Under a systemd unit stderr is the journal, which stamps the time itself and reads a
# "<N>" prefix as the syslog priority (sd-daemon.h), so `journalctl -p warning` works.
JOURNAL_FORMAT = "%(name)s: %(message)s"
SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    """One record a line with its sd-daemon priority prefix; continuation lines get it too."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{SYSLOG_PRIORITY.get(record.levelno, 6)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def stderr_is_journal(environ: Mapping[str, str], device: int, inode: int) -> bool:
    """systemd sets JOURNAL_STREAM=DEV:INODE for a unit whose stderr is the journal (systemd.exec(5));
    a child whose stderr was redirected elsewhere keeps the variable, so the file must match."""
    return environ.get("JOURNAL_STREAM", "") == f"{device}:{inode}"


def _stderr_is_journal() -> bool:
    try:
        info = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return stderr_is_journal(os.environ, info.st_dev, info.st_ino)


def setup_logging(level: str = "info", path: Optional[str] = None) -> None:
    """Send log records to stderr (or a file) at the given level name."""
    handler: logging.Handler
    if path:
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter(FORMAT))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JournalFormatter(JOURNAL_FORMAT) if _stderr_is_journal() else logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
