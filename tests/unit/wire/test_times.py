"""wire.times: one now helper, one RFC 3339 reader for every stored format, docker's since/until."""
from __future__ import annotations

import calendar
import datetime
import re
import time

import pytest

from rootless.errors import InvalidArgument
from rootless.wire import times

T0 = calendar.timegm((2024, 1, 2, 3, 4, 5)) * times.NS + 123456789


def test_format_in_each_precision() -> None:
    assert times.format_rfc3339(T0, times.SECONDS) == "2024-01-02T03:04:05Z"
    assert times.format_rfc3339(T0, times.MICRO) == "2024-01-02T03:04:05.123456Z"
    assert times.format_rfc3339(T0, times.NANO) == "2024-01-02T03:04:05.123456789Z"
    assert times.format_rfc3339(T0 - 123456789, times.NANO) == "2024-01-02T03:04:05.000000000Z"
    with pytest.raises(ValueError):
        times.format_rfc3339(T0, "milli")


@pytest.mark.parametrize("precision,pattern", [
    (times.SECONDS, r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"),
    (times.MICRO, r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"),
    (times.NANO, r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")])
def test_now_is_utc_now_in_the_precision(precision: str, pattern: str) -> None:
    before = time.time_ns()
    text = times.now_rfc3339(precision)
    assert re.fullmatch(pattern, text)
    assert abs(times.parse_rfc3339_ns(text) - before) < 5 * times.NS


@pytest.mark.parametrize("stored", [
    "2024-01-02T03:04:05Z",                      # volumes, networks (old util.filters.utc_now_rfc3339)
    "2024-01-02T03:04:05.123456Z",               # images (old images.store.rfc3339_now, isoformat)
    "2024-01-02T03:04:05.123456000Z",            # containers (old container_model.now_rfc3339)
    "2024-01-02T03:04:05.123456789Z",            # logs (old runtime.logs.format_rfc3339_ns)
    "2024-01-02T04:04:05.123456789+01:00",
    "2024-01-02T03:04:05.1234567891234Z",        # digits past nanoseconds are cut
])
def test_every_stored_format_parses(stored: str) -> None:
    seconds = times.parse_rfc3339_ns(stored) // times.NS
    assert seconds == T0 // times.NS


def test_parse_round_trips_and_offsets() -> None:
    assert times.parse_rfc3339_ns(times.format_rfc3339(T0)) == T0
    assert times.parse_rfc3339_ns("2024-01-02T01:04:05.123456789-02:00") == T0


@pytest.mark.parametrize("bad", ["", "yesterday", "2024-01-02", "2024-13-02T00:00:00Z", "2024-01-02T03:04:05"])
def test_parse_refuses_what_is_not_rfc3339(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="parse time"):
        times.parse_rfc3339_ns(bad)


def test_rfc3339_to_unix_treats_zero_time_as_zero() -> None:
    assert times.rfc3339_to_unix(times.ZERO_TIME) == 0.0
    assert times.rfc3339_to_unix("") == 0.0 and times.rfc3339_to_unix(None) == 0.0
    assert times.rfc3339_to_unix("1970-01-01T00:00:10.5Z") == 10.5


@pytest.mark.parametrize("text,ns", [("10m", 600 * times.NS), ("1h30m", 5400 * times.NS), ("1.5s", 1_500_000_000),
                                     ("300ms", 300_000_000), ("2us", 2000), ("-1h", -3600 * times.NS), ("0", 0),
                                     ("0.3s", 300_000_000), ("1.5h2.5m", 5550 * times.NS), (".5µs", 500)])
def test_parse_duration(text: str, ns: int) -> None:
    assert times.parse_duration_ns(text) == ns


@pytest.mark.parametrize("text", ["10", "1d", "h", "1h 2m", ""])
def test_parse_duration_rejects_non_durations(text: str) -> None:
    assert times.parse_duration_ns(text) is None


NOW = 1_700_000_000 * times.NS


@pytest.mark.parametrize("value,expected", [
    ("10m", NOW - 600 * times.NS),
    ("1700000000", NOW),
    ("1700000000.5", NOW + 500_000_000),
    ("1700000000.000000001", NOW + 1),
    ("0", 0),
    ("2023-11-14T22:13:20Z", NOW),
    ("2023-11-14T22:13:20.25Z", NOW + 250_000_000),
    ("2023-11-14T23:13:20+01:00", NOW),
    ("2023-11-14T22:13Z", NOW - 20 * times.NS),
    ("2023-11-14Z", calendar.timegm((2023, 11, 14, 0, 0, 0)) * times.NS),
])
def test_parse_timestamp_forms(value: str, expected: int) -> None:
    assert times.parse_timestamp_ns(value, now_ns=NOW) == expected


def test_parse_timestamp_without_zone_is_local_time() -> None:
    local = datetime.datetime(2023, 11, 14, 22, 13, 20).timestamp()
    assert times.parse_timestamp_ns("2023-11-14T22:13:20", now_ns=NOW) == int(local) * times.NS
    day = datetime.datetime(2023, 11, 14).timestamp()
    assert times.parse_timestamp_ns("2023-11-14", now_ns=NOW) == int(day) * times.NS


def test_parse_timestamp_duration_is_relative_to_now() -> None:
    before = time.time_ns()
    assert abs(times.parse_timestamp_ns("1h") - (before - 3600 * times.NS)) < 5 * times.NS


@pytest.mark.parametrize("bad", ["foo", "1700000000.x", "12abc"])
def test_parse_timestamp_refuses_with_mobys_words(bad: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        times.parse_timestamp_ns(bad, now_ns=NOW)
    assert exc.value.message == f'failed to parse value as time or duration: "{bad}"'


@pytest.mark.parametrize("bad", ["2023-13-14T22:13:20Z", "2023-11-14Tnoon"])
def test_parse_timestamp_refuses_broken_dates(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="parse time"):
        times.parse_timestamp_ns(bad, now_ns=NOW)


def test_api_timestamp_is_what_the_cli_sends() -> None:
    assert times.api_timestamp("10m", now_ns=NOW) == "1699999400.000000000"
    assert times.api_timestamp("1700000000.5", now_ns=NOW) == "1700000000.500000000"
    assert times.api_timestamp("2023-11-14T22:13:20Z", now_ns=NOW) == "1700000000.000000000"
    with pytest.raises(InvalidArgument, match="failed to parse value as time or duration"):
        times.api_timestamp("soon", now_ns=NOW)
