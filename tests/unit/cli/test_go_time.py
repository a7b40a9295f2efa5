"""go_time with the time module (cli/humanize.py) prints what datetime printed before (cli/fast.py skips datetime)."""
from __future__ import annotations

import datetime
import time
from typing import Iterator

import pytest

from rootless.cli.humanize import go_time


def with_datetime(unix_seconds: float) -> str:
    """The implementation go_time had, with datetime."""
    moment = datetime.datetime.fromtimestamp(unix_seconds).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %z ") + (moment.tzname() or "")


@pytest.fixture(params=["UTC", "Europe/Berlin", "America/St_Johns", "Asia/Kolkata", "EST5EDT"])
def zone(request, monkeypatch) -> Iterator[str]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("stamp", [0, 1, 1700000000, 1719792000, 1710054000, 2000000000.25, 1700000000.9999996,
                                   1700000000.4999999, -86400])
def test_go_time_prints_what_datetime_printed(zone: str, stamp: float) -> None:
    assert go_time(stamp) == with_datetime(stamp)
