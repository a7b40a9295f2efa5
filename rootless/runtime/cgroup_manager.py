"""Containers' cgroups where the user has them delegated: their path, usage, freezing, OOM kills.

`host.cgroups.place()` decided the manager: with "systemd" crun asks the
user's systemd for a scope per container (cgroupsPath "slice:prefix:name",
the unit becomes rootless-ID.scope in the user manager's user.slice, as
podman's libpod-ID.scope); with "cgroupfs" crun makes ID under the parent
cgroup the daemon split off its own delegated cgroup.

Everything else here is a function of a cgroup directory (and /proc text
passed in), so the engine can call it for stats/pause/OOMKilled and the unit
tests can feed fixture directories. The stats follow the Docker Engine API's
ContainerStatsResponse for cgroup v2, the shape `docker stats` and
docker-py render.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from rootless.errors import FailedPrecondition
from rootless.host.cgroups import SYSTEMD, CgroupInfo, parse_own_cgroup, user_service_path
from rootless.runtime.logs import format_rfc3339_ns

CGROUP_ROOT = "/sys/fs/cgroup"
SCOPE_PREFIX = "rootless"  # crun names the scope PREFIX-ID.scope
FREEZE_TIMEOUT = 10.0
NET_FIELDS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "", "", "", "",
              "tx_bytes", "tx_packets", "tx_errors", "tx_dropped")


def cgroups_path(info: CgroupInfo, container_id: str) -> Optional[str]:
    """linux.cgroupsPath for a container, or None where cgroups are not ours to manage."""
    if not info.limits_supported:
        return None
    if info.manager == SYSTEMD:
        return f"{info.parent or 'user.slice'}:{SCOPE_PREFIX}:{container_id}"
    return f"{info.parent}/{container_id}" if info.parent else None


def container_cgroup_dir(info: CgroupInfo, container_id: str, root: str = CGROUP_ROOT) -> str:
    """Where the container's cgroup is, by the same rule crun used to make it."""
    if info.manager == SYSTEMD:
        slice_ = info.parent or "user.slice"
        return os.path.join(root, user_service_path(info.uid).lstrip("/"), slice_,
                            f"{SCOPE_PREFIX}-{container_id}.scope")
    return os.path.join(root, info.parent.lstrip("/"), container_id)


def cgroup_dir_of_pid(pid: int, root: str = CGROUP_ROOT, proc: str = "/proc") -> str:
    """The v2 cgroup directory a live process is in ("" when it is gone)."""
    try:
        with open(os.path.join(proc, str(pid), "cgroup"), encoding="utf-8") as f:
            own = parse_own_cgroup(f.read())
    except OSError:
        return ""
    return os.path.join(root, own.lstrip("/")) if own else ""


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def parse_flat_keyed(text: str) -> Dict[str, int]:
    """cgroup "key value" files (cpu.stat, memory.stat, memory.events)."""
    values: Dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[key] = int(value)
    return values


def _number(text: str) -> Optional[int]:
    """A single-value cgroup file: an integer, or None for "max" / missing."""
    text = text.strip()
    return int(text) if text.isdigit() else None


def oom_kills(cgroup_dir: str) -> int:
    """Processes the OOM killer took in this cgroup (and below): memory.events oom_kill."""
    return parse_flat_keyed(_read(os.path.join(cgroup_dir, "memory.events"))).get("oom_kill", 0)


def freeze(cgroup_dir: str, frozen: bool = True, timeout: float = FREEZE_TIMEOUT) -> None:
    """pause/unpause: write cgroup.freeze and wait until cgroup.events says it took effect."""
    want = "1" if frozen else "0"
    try:
        with open(os.path.join(cgroup_dir, "cgroup.freeze"), "w", encoding="ascii") as f:
            f.write(want)
    except OSError as exc:
        raise FailedPrecondition(f"{'pause' if frozen else 'unpause'}: {cgroup_dir}: {exc.strerror}",
                                 hint="the cgroup freezer needs cgroup v2 with a delegated cgroup") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = parse_flat_keyed(_read(os.path.join(cgroup_dir, "cgroup.events")))
        if str(events.get("frozen", -1)) == want:
            return
        time.sleep(0.02)
    raise FailedPrecondition(f"{'pause' if frozen else 'unpause'}: {cgroup_dir}: not done after {timeout}s")


def is_frozen(cgroup_dir: str) -> bool:
    return parse_flat_keyed(_read(os.path.join(cgroup_dir, "cgroup.events"))).get("frozen", 0) == 1


@dataclass(frozen=True)
class SystemCounters:
    """The host-wide numbers docker's stats carry next to the cgroup's own."""

    cpu_usage_ns: int  # all CPUs' time since boot, as docker's system_cpu_usage
    online_cpus: int
    memory_total: int  # the limit docker shows when memory.max is "max"


def parse_proc_stat(text: str, clock_ticks: int = 100) -> int:
    """Nanoseconds of CPU time since boot from /proc/stat's "cpu" line (docker's getSystemCPUUsage)."""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            return sum(int(v) for v in fields[1:8]) * (1_000_000_000 // clock_ticks)
    return 0


def parse_meminfo_total(text: str) -> int:
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def read_system(proc: str = "/proc") -> SystemCounters:
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return SystemCounters(parse_proc_stat(_read(os.path.join(proc, "stat")), ticks),
                          os.cpu_count() or 1, parse_meminfo_total(_read(os.path.join(proc, "meminfo"))))


def parse_io_stat(text: str) -> List[Dict[str, Any]]:
    """io.stat lines ("8:0 rbytes=.. wbytes=.. rios=.. wios=..") as docker's io_service_bytes_recursive."""
    entries: List[Dict[str, Any]] = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or ":" not in fields[0]:
            continue
        major, _, minor = fields[0].partition(":")
        values = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        for op, key in (("read", "rbytes"), ("write", "wbytes")):
            entries.append({"major": int(major), "minor": int(minor), "op": op, "value": int(values.get(key, 0))})
    return entries


def parse_net_dev(text: str) -> Dict[str, Dict[str, int]]:
    """/proc/PID/net/dev of the container's netns as docker's "networks" (loopback left out)."""
    networks: Dict[str, Dict[str, int]] = {}
    for line in text.splitlines()[2:]:
        name, _, rest = line.partition(":")
        name, values = name.strip(), rest.split()
        if not name or name == "lo" or len(values) < len(NET_FIELDS):
            continue
        networks[name] = {key: int(values[i]) for i, key in enumerate(NET_FIELDS) if key}
    return networks


def _cpu_stats(cgroup_dir: str, system: SystemCounters) -> Dict[str, Any]:
    cpu = parse_flat_keyed(_read(os.path.join(cgroup_dir, "cpu.stat")))
    return {
        "cpu_usage": {"total_usage": cpu.get("usage_usec", 0) * 1000,
                      "usage_in_kernelmode": cpu.get("system_usec", 0) * 1000,
                      "usage_in_usermode": cpu.get("user_usec", 0) * 1000},
        "system_cpu_usage": system.cpu_usage_ns, "online_cpus": system.online_cpus,
        "throttling_data": {"periods": cpu.get("nr_periods", 0), "throttled_periods": cpu.get("nr_throttled", 0),
                            "throttled_time": cpu.get("throttled_usec", 0) * 1000},
    }


def _memory_stats(cgroup_dir: str, system: SystemCounters) -> Dict[str, Any]:
    limit = _number(_read(os.path.join(cgroup_dir, "memory.max")))
    stats = parse_flat_keyed(_read(os.path.join(cgroup_dir, "memory.stat")))
    return {"usage": _number(_read(os.path.join(cgroup_dir, "memory.current"))) or 0,
            "limit": limit if limit is not None else system.memory_total, "stats": stats}


def read_sample(cgroup_dir: str, system: SystemCounters, read_at: str) -> Dict[str, Any]:
    """One stats sample of a cgroup: docker's cpu/memory/pids/blkio fields (no precpu, no networks)."""
    pids_limit = _number(_read(os.path.join(cgroup_dir, "pids.max")))
    pids: Dict[str, Any] = {"current": _number(_read(os.path.join(cgroup_dir, "pids.current"))) or 0}
    if pids_limit is not None:
        pids["limit"] = pids_limit
    empty = None
    return {
        "read": read_at, "cpu_stats": _cpu_stats(cgroup_dir, system),
        "memory_stats": _memory_stats(cgroup_dir, system), "pids_stats": pids,
        "blkio_stats": {"io_service_bytes_recursive": parse_io_stat(_read(os.path.join(cgroup_dir, "io.stat"))),
                        "io_serviced_recursive": empty, "io_queue_recursive": empty,
                        "io_service_time_recursive": empty, "io_wait_time_recursive": empty,
                        "io_merged_recursive": empty, "io_time_recursive": empty, "sectors_recursive": empty},
        "num_procs": 0, "storage_stats": {},
    }


def docker_stats(sample: Dict[str, Any], previous: Optional[Dict[str, Any]], name: str, container_id: str,
                 networks: Dict[str, Dict[str, int]]) -> Dict[str, Any]:
    """The API's stats object: this sample, the previous one as precpu (docker's CPU % needs both)."""
    zero_cpu = {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    result = dict(sample)
    result["preread"] = previous["read"] if previous else "0001-01-01T00:00:00Z"
    result["precpu_stats"] = previous["cpu_stats"] if previous else zero_cpu
    result["name"] = "/" + name.lstrip("/")
    result["id"] = container_id
    result["networks"] = networks
    return result


def container_stats(pid: int, name: str, container_id: str, previous: Optional[Dict[str, Any]] = None,
                    proc: str = "/proc", root: str = CGROUP_ROOT) -> Dict[str, Any]:
    """docker's stats object for a running container, from its init's cgroup and network namespace.

    The engine calls this once per sample (stream: every second, passing the
    previous result so CPU % has a delta; --no-stream: twice, as dockerd does).
    """
    directory = cgroup_dir_of_pid(pid, root, proc)
    if not directory or not os.path.isdir(directory):
        raise FailedPrecondition(f"stats: container {container_id[:12]}: its cgroup is gone (not running)")
    sample = read_sample(directory, read_system(proc), format_rfc3339_ns(time.time_ns()))
    networks = parse_net_dev(_read(os.path.join(proc, str(pid), "net", "dev")))
    return docker_stats(sample, previous, name, container_id, networks)
