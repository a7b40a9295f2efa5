"""The daemon's log under a systemd unit: the journal's priority prefix, no second time stamp (issue 12)."""
from __future__ import annotations

import logging

from rootless.util.log import JOURNAL_FORMAT, JournalFormatter, stderr_is_journal


def record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("rootless.daemon.main", level, __file__, 1, message, None, None)


def test_each_line_carries_the_syslog_priority_of_its_level() -> None:
    formatter = JournalFormatter(JOURNAL_FORMAT)
    assert formatter.format(record(logging.INFO, "listening")) == "<6>rootless.daemon.main: listening"
    assert formatter.format(record(logging.WARNING, "a\nb")) == "<4>rootless.daemon.main: a\n<4>b"
    assert formatter.format(record(logging.ERROR, "x")).startswith("<3>")
    assert formatter.format(record(logging.DEBUG, "x")).startswith("<7>")


def test_the_journal_is_recognised_only_when_stderr_is_the_stream_systemd_named() -> None:
    assert stderr_is_journal({"JOURNAL_STREAM": "8:12345"}, 8, 12345)
    assert not stderr_is_journal({"JOURNAL_STREAM": "8:12345"}, 8, 999)  # inherited, stderr redirected since
    assert not stderr_is_journal({}, 8, 12345)
