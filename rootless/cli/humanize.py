"""Docker's human-readable durations, sizes and times (go-units, docker/cli formatter)."""
from __future__ import annotations

import time

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Any, Dict, List

# Re-exported (the 'as' form marks it so for mypy, PEP 484): the CLI's formatters take all of
# docker's units from here; one implementation.
from rootless.util.units import human_duration as human_duration, human_size as human_size


def go_time(unix_seconds: float) -> str:
    """Go's time.Time.String() in local time: '2024-01-01 12:00:00 +0000 UTC'."""
    # The time module, not datetime (~1 ms to import; every `ps` row has a CreatedAt, cli/fast.py).
    # Rounded to microseconds first, as datetime.fromtimestamp rounds before the seconds are cut.
    local = time.localtime(round(unix_seconds, 6))
    return time.strftime("%Y-%m-%d %H:%M:%S %z ", local) + (local.tm_zone or "")


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


