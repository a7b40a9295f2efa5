"""Docker's human-readable durations, sizes and times (go-units, docker/cli formatter)."""
from __future__ import annotations

import datetime
from typing import Any, Dict, List

# Re-exported (the 'as' form marks it so for mypy, PEP 484): the CLI's formatters take all of
# docker's units from here; one implementation.
from rootless.util.units import human_duration as human_duration, human_size as human_size


def go_time(unix_seconds: float) -> str:
    """Go's time.Time.String() in local time: '2024-01-01 12:00:00 +0000 UTC'."""
    moment = datetime.datetime.fromtimestamp(unix_seconds).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %z ") + (moment.tzname() or "")


def display_ports(ports: List[Dict[str, Any]]) -> str:
    """Docker's Ports column: '127.0.0.1:18080->8080/tcp, 9000/tcp'."""
    shown = []
    for port in sorted(ports, key=lambda p: (p.get("PrivatePort", 0), p.get("Type", ""), p.get("IP", ""))):
        private = f"{port.get('PrivatePort')}/{port.get('Type', 'tcp')}"
        if port.get("PublicPort"):
            ip = port.get("IP") or "0.0.0.0"
            host = f"[{ip}]" if ":" in ip else ip
            private = f"{host}:{port['PublicPort']}->{private}"
        if private not in shown:
            shown.append(private)
    return ", ".join(shown)


def ellipsis(text: str, width: int) -> str:
    """Cut text to width characters, the last one an ellipsis."""
    return text if len(text) <= width else text[:width - 1] + "…"


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _parse_duration(text: str) -> float:
    """Go's time.ParseDuration ('1h30m', '10s', '1.5h') in seconds; ValueError if it is not one."""
    import re

    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(text)
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def api_timestamp(value: str, now: float) -> str:
    """docker's GetTimestamp for --since/--until: durations count back from now; dates become unix seconds."""
    if not value:
        return value
    try:
        return f"{now - _parse_duration(value):.9f}"
    except ValueError:
        pass
    try:
        float(value)
        return value
    except ValueError:
        pass
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        from rootless.errors import InvalidArgument

        raise InvalidArgument(f"invalid timestamp: {value!r}",
                              hint="use a duration (10m, 1h30m), unix seconds or RFC 3339 (2024-01-01T00:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return f"{moment.timestamp():.9f}"
