"""Times as docker writes and reads them.

now_rfc3339(precision) is the one "now" helper: records have been written
with seconds (volumes, networks: "…T12:00:00Z"), microseconds (images:
isoformat, "…T12:00:00.123456Z", no fraction when it is zero) and nanoseconds
(containers, logs: "…T12:00:00.123456789Z"); parse_rfc3339_ns reads every one
of them back, and any RFC 3339 offset, so stored records stay readable.

parse_timestamp_ns is docker's since/until reader (moby api/types/time
GetTimestamp + ParseTimestamps): a Go duration relative to now ("10m",
"1h30m"), an RFC 3339 time or date (without a zone: local time) or unix
seconds with a fraction ("1700000000.5").
"""
from __future__ import annotations

import calendar
import datetime
import re
import time

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast_run.py)
if TYPE_CHECKING:
    from typing import Optional

from rootless.errors import InvalidArgument

SECONDS, MICRO, NANO = "seconds", "micro", "nano"
PRECISIONS = (SECONDS, MICRO, NANO)
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time, docker's "never"
NS = 1_000_000_000

_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$")


def format_rfc3339(ns: int, precision: str = NANO) -> str:
    """UTC time ns (since the epoch) as RFC 3339 with a fixed-width fraction (none for seconds)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}")
    seconds, frac = divmod(ns, NS)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if precision == SECONDS:
        return base + "Z"
    if precision == MICRO:
        return base + f".{frac // 1000:06d}Z"
    return base + f".{frac:09d}Z"


def now_rfc3339(precision: str = NANO) -> str:
    """Now, UTC, as RFC 3339 in the given precision ("seconds", "micro" or "nano")."""
    return format_rfc3339(time.time_ns(), precision)


def parse_rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch from an RFC 3339 time (Z or ±hh:mm, any fraction, digits past 9 cut)."""
    found = _RFC3339.match(text.strip())
    if not found:
        raise InvalidArgument(f"parse time: {text!r}: not an RFC 3339 time")
    date, clock, digits, zone = found.groups()
    try:
        base = calendar.timegm(time.strptime(f"{date}T{clock}", "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        raise InvalidArgument(f"parse time: {text!r}: out of range") from None
    frac = int((digits + "000000000")[:9]) if digits else 0
    offset = 0
    if zone not in ("Z", "z"):
        offset = (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60) * (1 if zone[0] == "+" else -1)
    return (base - offset) * NS + frac


def rfc3339_to_unix(text: Optional[str]) -> float:
    """Seconds since the epoch of a stored time; "" and docker's zero time are 0."""
    if not text or text.startswith("0001-"):
        return 0.0
    return parse_rfc3339_ns(text) / NS


# Go's time.ParseDuration: a sign, then number+unit pairs ("1h30m", "1.5s", "300ms").
_DURATION = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h)"
                       r"(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))*$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 1_000_000, "s": NS, "m": 60 * NS, "h": 3600 * NS}


def parse_duration_ns(text: str) -> Optional[int]:
    """A Go duration in nanoseconds, or None when text is not one ("0" alone is one, as in Go)."""
    if text in ("0", "+0", "-0"):
        return 0
    if not _DURATION.match(text):
        return None
    # Exact arithmetic, as Go's: float would make "0.3s" 299999999ns.
    from fractions import Fraction  # with decimal ~1.5 ms: `rootless ps` and `logs` import this module

    total = int(sum(Fraction(number) * _UNIT_NS[unit] for number, unit in _DURATION_PART.findall(text)))
    return -total if text.startswith("-") else total


# GetTimestamp's layouts by the shape of the value (T present, colons, zone or not).
_LOCAL_LAYOUTS = ("%Y-%m-%dT%H", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


def _parse_local(value: str) -> int:
    """A time without a zone, read in the local zone as docker does (ParseInLocation)."""
    head, _, digits = value.partition(".")
    layouts = ("%Y-%m-%d",) if "T" not in head else _LOCAL_LAYOUTS
    for layout in layouts:
        try:
            moment = datetime.datetime.strptime(head, layout)
        except ValueError:
            continue
        if digits and not digits.isdigit():
            break
        return int(moment.timestamp()) * NS + (int((digits + "000000000")[:9]) if digits else 0)
    raise InvalidArgument(f"parse time: {value!r}: not a time docker reads")


def _parse_zoned(value: str) -> int:
    """An RFC 3339 time or a date with a zone ("2024-01-02Z", "2024-01-02T15:04+01:00")."""
    found = re.match(r"^(\d{4}-\d{2}-\d{2})(?:T(\d{2})(?::(\d{2}))?(?::(\d{2})(\.\d+)?)?)?([Zz]|[+-]\d{2}:\d{2})$",
                     value)
    if not found:
        raise InvalidArgument(f"parse time: {value!r}: not an RFC 3339 time")
    date, hour, minute, second, frac, zone = found.groups()
    clock = f"{hour or '00'}:{minute or '00'}:{second or '00'}{frac or ''}"
    return parse_rfc3339_ns(f"{date}T{clock}{zone}")


def _parse_unix(value: str) -> int:
    """"seconds[.fraction]" (moby parseTimestamp): fraction digits past 9 are cut."""
    seconds, dot, frac = value.partition(".")
    if not re.fullmatch(r"[-+]?\d+", seconds) or (dot and not frac.isdigit()):
        raise InvalidArgument(f'failed to parse value as time or duration: "{value}"')
    return int(seconds) * NS + (int((frac + "000000000")[:9]) if dot else 0)


def parse_timestamp_ns(value: str, now_ns: Optional[int] = None) -> int:
    """docker's since/until value as nanoseconds since the epoch (see the module docstring).

    Raises InvalidArgument with moby's words for a value none of the forms reads.
    """
    text = value.strip()
    duration = parse_duration_ns(text) if text != "0" else None
    if duration is not None:
        return (time.time_ns() if now_ns is None else now_ns) - duration
    if "-" not in text.lstrip("-+"):
        return _parse_unix(text)
    zoned = any(c in text for c in "zZ+") or text.count("-") == 3
    return _parse_zoned(text) if zoned else _parse_local(text)


def api_timestamp(value: str, now_ns: Optional[int] = None) -> str:
    """What a client sends for --since/--until (docker/cli's GetTimestamp): "seconds.nanoseconds"."""
    seconds, frac = divmod(parse_timestamp_ns(value, now_ns), NS)
    return f"{seconds}.{frac:09d}"
