"""Healthchecks as docker defines them: the probe a config asks for, and its state machine.

Pure functions over the record's Config.Healthcheck and State.Health, so the
rules are testable without processes: moby daemon/health.go (defaults,
handleProbeResult, the last 5 results, 4096 bytes of output) and
daemon/commit.go merge (a request's check over the image's, field by field).
engine/health.py runs the probes.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

SECOND_NS = 1_000_000_000
DEFAULT_INTERVAL_NS = 30 * SECOND_NS
DEFAULT_TIMEOUT_NS = 30 * SECOND_NS
DEFAULT_START_INTERVAL_NS = 5 * SECOND_NS
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT_LEN = 4096
STATUSES = ("starting", "healthy", "unhealthy")
FILTER_VALUES = STATUSES + ("none",)
DURATION_FIELDS = ("Interval", "Timeout", "StartPeriod", "StartInterval")


@dataclass(frozen=True)
class Probe:
    """What to run and when; durations in seconds."""

    argv: Tuple[str, ...]
    interval: float
    timeout: float
    start_period: float
    start_interval: float
    retries: int


def merge(image_check: Optional[Dict[str, Any]], request_check: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The container's Healthcheck: the request's, with the image's for every field it leaves zero."""
    if not image_check:
        return copy.deepcopy(request_check) if request_check else None
    if not request_check:
        return copy.deepcopy(image_check)
    merged = dict(request_check)
    for key in ("Test",) + DURATION_FIELDS + ("Retries",):
        if not merged.get(key):
            merged[key] = copy.deepcopy(image_check.get(key))
    return {k: v for k, v in merged.items() if v is not None}


def probe_of(config: Dict[str, Any]) -> Optional[Probe]:
    """The probe of a record's Config; None without a check or with Test ["NONE"]."""
    check = config.get("Healthcheck") or {}
    test = [str(t) for t in check.get("Test") or []]
    if not test or test[0] not in ("CMD", "CMD-SHELL") or len(test) < 2:
        return None
    argv = test[1:] if test[0] == "CMD" else list(config.get("Shell") or ["/bin/sh", "-c"]) + test[1:]

    def seconds(key: str, default_ns: int) -> float:
        return float(check.get(key) or default_ns) / SECOND_NS

    return Probe(tuple(argv), seconds("Interval", DEFAULT_INTERVAL_NS), seconds("Timeout", DEFAULT_TIMEOUT_NS),
                 seconds("StartPeriod", 0), seconds("StartInterval", DEFAULT_START_INTERVAL_NS),
                 int(check.get("Retries") or DEFAULT_RETRIES))


def starting(previous: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """State.Health when the container (re)starts: starting, the earlier log kept (as moby)."""
    log = list((previous or {}).get("Log") or [])
    return {"Status": "starting", "FailingStreak": 0, "Log": log}


def stopped(previous: Dict[str, Any]) -> Dict[str, Any]:
    """moby marks the check unhealthy when its monitor stops (CloseMonitorChannel)."""
    return {**previous, "Status": "unhealthy"}


def apply_result(health: Dict[str, Any], result: Dict[str, Any], probe: Probe,
                 since_start: float) -> Dict[str, Any]:
    """State.Health after one probe; since_start is the probe's start minus the container's.

    A failure while still starting and within the start period does not count
    (moby handleProbeResult); retries failures in a row make it unhealthy.
    """
    updated = {**health, "Log": (list(health.get("Log") or []) + [result])[-MAX_LOG_ENTRIES:]}
    if result["ExitCode"] == 0:
        updated.update(Status="healthy", FailingStreak=0)
        return updated
    if health.get("Status") == "starting" and since_start < probe.start_period:
        return updated
    updated["FailingStreak"] = int(health.get("FailingStreak") or 0) + 1
    if updated["FailingStreak"] >= probe.retries:
        updated["Status"] = "unhealthy"
    return updated


def next_interval(health: Dict[str, Any], probe: Probe, since_start: float) -> float:
    """Seconds to the next probe: the start interval while starting within the start period."""
    if health.get("Status") == "starting" and since_start < probe.start_period:
        return probe.start_interval
    return probe.interval


def truncate_output(output: bytes) -> str:
    return output[:MAX_OUTPUT_LEN].decode("utf-8", "replace")


def status_suffix(state: Dict[str, Any]) -> str:
    """What docker's ps adds after "Up 3 seconds": " (healthy)", " (health: starting)"."""
    status = (state.get("Health") or {}).get("Status")
    if not status:
        return ""
    return " (health: starting)" if status == "starting" else f" ({status})"


def filter_status(state: Dict[str, Any]) -> str:
    """The value ps --filter health= matches: starting, healthy, unhealthy or none."""
    return str((state.get("Health") or {}).get("Status") or "none")


def go_duration(seconds: float) -> str:
    """Go's time.Duration text for the timeout message: 30s, 1.5s, 500ms."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


def timeout_result(probe: Probe) -> Tuple[int, str]:
    return -1, f"Health check exceeded timeout ({go_duration(probe.timeout)})"

