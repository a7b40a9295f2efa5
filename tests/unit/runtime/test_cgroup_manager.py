"""Container cgroups on a delegated v2 host: paths, docker stats from fixture cgroup dirs, freezer, OOM."""
from __future__ import annotations

import pathlib
from typing import Dict

import pytest

from rootless.errors import FailedPrecondition
from rootless.host.cgroups import CgroupInfo
from rootless.runtime import cgroup_manager as cm

SYSTEM = cm.SystemCounters(cpu_usage_ns=5_000_000_000_000, online_cpus=2, memory_total=4 << 30)
CPU_STAT = ("usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n"
            "nr_periods 10\nnr_throttled 3\nthrottled_usec 25000\n")
NET_DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  tap0:    2048      12    1    2    0     0          0         0     1024       8    0    3    0     0       0          0
"""


def cgroup_dir(tmp_path: pathlib.Path, files: Dict[str, str]) -> str:
    directory = tmp_path / "rootless-abc.scope" / "container"
    directory.mkdir(parents=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return str(directory)


def test_cgroups_path_per_manager() -> None:
    systemd = CgroupInfo(mode="v2", controllers=["memory"], writable=True, cgroup_manager="systemd",
                         parent="user.slice", uid=1000)
    assert cm.cgroups_path(systemd, "abc") == "user.slice:rootless:abc"
    assert cm.container_cgroup_dir(systemd, "abc", "/cg") == (
        "/cg/user.slice/user-1000.slice/user@1000.service/user.slice/rootless-abc.scope")
    cgroupfs = CgroupInfo(mode="v2", controllers=["memory"], writable=True, cgroup_manager="cgroupfs",
                          parent="/u/rootlessd-1.scope/containers")
    assert cm.cgroups_path(cgroupfs, "abc") == "/u/rootlessd-1.scope/containers/abc"
    assert cm.cgroups_path(CgroupInfo(mode="hybrid"), "abc") is None


def test_cgroup_of_a_pid(tmp_path: pathlib.Path) -> None:
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "cgroup").write_text("0::/user.slice/x.scope/container\n")
    assert cm.cgroup_dir_of_pid(7, "/sys/fs/cgroup", str(tmp_path)) == "/sys/fs/cgroup/user.slice/x.scope/container"
    assert cm.cgroup_dir_of_pid(8, "/sys/fs/cgroup", str(tmp_path)) == ""


def test_a_sample_has_dockers_v2_shape(tmp_path: pathlib.Path) -> None:
    directory = cgroup_dir(tmp_path, {
        "cpu.stat": CPU_STAT, "memory.current": "1048576\n", "memory.max": "67108864\n",
        "memory.stat": "anon 900000\nfile 4096\ninactive_file 4096\n", "pids.current": "3\n", "pids.max": "20\n",
        "io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"})
    sample = cm.read_sample(directory, SYSTEM, "2026-01-01T00:00:00Z")
    assert sample["cpu_stats"]["cpu_usage"] == {"total_usage": 1_500_000_000, "usage_in_kernelmode": 500_000_000,
                                                "usage_in_usermode": 1_000_000_000}
    assert sample["cpu_stats"]["throttling_data"] == {"periods": 10, "throttled_periods": 3,
                                                      "throttled_time": 25_000_000}
    assert sample["cpu_stats"]["online_cpus"] == 2
    assert sample["memory_stats"]["usage"] == 1048576 and sample["memory_stats"]["limit"] == 64 << 20
    assert sample["memory_stats"]["stats"]["inactive_file"] == 4096  # docker CLI subtracts it on v2
    assert sample["pids_stats"] == {"current": 3, "limit": 20}
    assert sample["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 4096}, {"major": 8, "minor": 0, "op": "write", "value": 8192}]


def test_unlimited_memory_shows_the_hosts_memory_and_no_pids_limit(tmp_path: pathlib.Path) -> None:
    directory = cgroup_dir(tmp_path, {"memory.current": "10\n", "memory.max": "max\n", "pids.max": "max\n"})
    sample = cm.read_sample(directory, SYSTEM, "t")
    assert sample["memory_stats"]["limit"] == 4 << 30
    assert sample["pids_stats"] == {"current": 0}


def test_docker_stats_carries_the_previous_sample_as_precpu() -> None:
    first = {"read": "t1", "cpu_stats": {"cpu_usage": {"total_usage": 1}}}
    second = {"read": "t2", "cpu_stats": {"cpu_usage": {"total_usage": 2}}}
    stats = cm.docker_stats(second, first, "web", "abc", {"tap0": {"rx_bytes": 1}})
    assert stats["preread"] == "t1" and stats["precpu_stats"] == first["cpu_stats"]
    assert stats["name"] == "/web" and stats["id"] == "abc" and stats["networks"] == {"tap0": {"rx_bytes": 1}}
    assert cm.docker_stats(first, None, "/web", "abc", {})["precpu_stats"]["cpu_usage"]["total_usage"] == 0


def test_net_dev_leaves_loopback_out() -> None:
    assert cm.parse_net_dev(NET_DEV) == {"tap0": {"rx_bytes": 2048, "rx_packets": 12, "rx_errors": 1,
                                                  "rx_dropped": 2, "tx_bytes": 1024, "tx_packets": 8,
                                                  "tx_errors": 0, "tx_dropped": 3}}


def test_system_counters_from_proc_text() -> None:
    assert cm.parse_proc_stat("cpu  100 0 50 1000 10 0 5 0 0 0\ncpu0 1 2 3\n", 100) == 1165 * 10_000_000
    assert cm.parse_meminfo_total("MemTotal:        4006432 kB\nMemFree: 1 kB\n") == 4006432 * 1024


def test_oom_kills_from_memory_events(tmp_path: pathlib.Path) -> None:
    directory = cgroup_dir(tmp_path, {"memory.events": "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n"})
    assert cm.oom_kills(directory) == 1
    assert cm.oom_kills(str(tmp_path)) == 0


def test_freeze_writes_cgroup_freeze_and_waits_for_the_event(tmp_path: pathlib.Path) -> None:
    directory = cgroup_dir(tmp_path, {"cgroup.events": "populated 1\nfrozen 1\n"})
    cm.freeze(directory, True, timeout=1)
    assert pathlib.Path(directory, "cgroup.freeze").read_text() == "1"
    assert cm.is_frozen(directory)
    with pytest.raises(FailedPrecondition, match="unpause: .*: not done after"):
        cm.freeze(directory, False, timeout=0.1)  # cgroup.events still says frozen


def test_freeze_without_a_cgroup_is_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FailedPrecondition, match="^pause: "):
        cm.freeze(str(tmp_path / "gone"), True, timeout=0.1)
