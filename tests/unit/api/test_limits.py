"""Resource limits are checked at the API edge as dockerd checks them (verifyPlatformContainerResources),
at create and at update, so a bad value is a 400 naming the field instead of a crun failure at start."""
from __future__ import annotations

import os
from typing import Any, Dict

import pytest

from rootless.api import types
from rootless.api.decode import decode_body
from rootless.errors import InvalidArgument

MB = 1024 * 1024
HOST = types.HostCpus(count=4, cpus="0-3", mems="0")


def _create(host_config: Dict[str, Any]) -> types.ContainerCreate:
    return decode_body(types.ContainerCreate, {"Image": "busybox", "HostConfig": host_config})


def _update(body: Dict[str, Any]) -> types.ContainerUpdate:
    return decode_body(types.ContainerUpdate, body)


def _refused(body: Dict[str, Any], host: types.HostCpus = HOST, update: bool = False) -> str:
    """The message check_resources gives for body (a Resources), on a host with 4 CPUs and 1 memory node."""
    with pytest.raises(InvalidArgument) as caught:
        types.check_resources(types.Resources(**body), "HostConfig", host, update)
    return caught.value.message


# Each rule: the body, the field named, and dockerd's words.
REFUSED = [
    ({"Memory": 4 * MB}, "HostConfig.Memory: 4194304: Minimum memory limit allowed is 6MB"),
    ({"Memory": -1}, "HostConfig.Memory: -1: Minimum memory limit allowed is 6MB"),
    ({"Memory": 64 * MB, "MemorySwap": 32 * MB},
     "HostConfig.MemorySwap: 33554432: Minimum memoryswap limit should be larger than memory limit, see usage"),
    ({"MemorySwap": 64 * MB},
     "HostConfig.MemorySwap: 67108864: You should always set the Memory limit when using Memoryswap limit, see usage"),
    ({"MemoryReservation": MB}, "HostConfig.MemoryReservation: 1048576: Minimum memory reservation allowed is 6MB"),
    ({"Memory": 32 * MB, "MemoryReservation": 64 * MB},
     "HostConfig.Memory: 33554432: Minimum memory limit can not be less than memory reservation limit, see usage"),
    ({"NanoCpus": 10 ** 9, "CpuPeriod": 100000},
     "HostConfig.NanoCpus: 1000000000: Conflicting options: Nano CPUs and CPU Period cannot both be set"),
    ({"NanoCpus": 10 ** 9, "CpuQuota": 50000},
     "HostConfig.NanoCpus: 1000000000: Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
    ({"NanoCpus": 5 * 10 ** 9},
     "HostConfig.NanoCpus: 5000000000: Range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available"),
    ({"NanoCpus": -1}, "HostConfig.NanoCpus: -1: Range of CPUs is from 0.01 to 4.00"),
    ({"NanoCpus": 9_999_999}, "HostConfig.NanoCpus: 9999999: Range of CPUs is from 0.01 to 4.00"),
    ({"CpuShares": -2}, "HostConfig.CpuShares: -2: invalid CPU shares (-2): value must be a positive integer"),
    ({"CpuPeriod": 999}, "HostConfig.CpuPeriod: 999: CPU cfs period can not be less than 1ms (i.e. 1000) "
                         "or larger than 1s (i.e. 1000000)"),
    ({"CpuPeriod": 1000001}, "HostConfig.CpuPeriod: 1000001: CPU cfs period can not be less than 1ms"),
    ({"CpuQuota": 999}, "HostConfig.CpuQuota: 999: CPU cfs quota can not be less than 1ms (i.e. 1000)"),
    ({"CpusetCpus": "1-x"},
     'HostConfig.CpusetCpus: "1-x": Invalid value 1-x for cpuset cpus: invalid format: 1-x'),
    ({"CpusetCpus": "3-1"}, 'HostConfig.CpusetCpus: "3-1": Invalid value 3-1 for cpuset cpus: invalid format: 3-1'),
    ({"CpusetCpus": "0,"}, 'HostConfig.CpusetCpus: "0,": Invalid value 0, for cpuset cpus: invalid format: 0,'),
    ({"CpusetCpus": " 1"}, 'Invalid value  1 for cpuset cpus: invalid format:  1'),
    ({"CpusetCpus": "0-9223372036854775807"},
     "Invalid value 0-9223372036854775807 for cpuset cpus: value of out range, maximum is 8192"),
    ({"CpusetCpus": "2-5"},
     'HostConfig.CpusetCpus: "2-5": Requested CPUs are not available - requested 2-5, available: 0-3'),
    ({"CpusetCpus": "0-1000"}, "Requested CPUs are not available - requested 0-1000, available: 0-3"),
    ({"CpusetMems": "1"},
     'HostConfig.CpusetMems: "1": Requested memory nodes are not available - requested 1, available: 0'),
    ({"CpusetMems": "a"}, "Invalid value a for cpuset mems: invalid format: a"),
    ({"BlkioWeight": 9}, "HostConfig.BlkioWeight: 9: Range of blkio weight is from 10 to 1000"),
    ({"BlkioWeight": 1001}, "HostConfig.BlkioWeight: 1001: Range of blkio weight is from 10 to 1000"),
]


@pytest.mark.parametrize("body,message", REFUSED)
def test_limits_dockerd_refuses_are_refused_naming_the_field(body: Dict[str, Any], message: str) -> None:
    refused = _refused(body)
    assert refused.startswith("invalid argument: HostConfig.")
    assert message in refused


@pytest.mark.parametrize("body", [
    {}, {"Memory": 6 * MB}, {"Memory": 64 * MB, "MemorySwap": -1}, {"Memory": 64 * MB, "MemorySwap": 64 * MB},
    {"Memory": 64 * MB, "MemorySwap": 0}, {"Memory": 64 * MB, "MemoryReservation": 64 * MB},
    {"MemoryReservation": 6 * MB}, {"NanoCpus": 10_000_000}, {"NanoCpus": 4 * 10 ** 9},
    {"NanoCpus": 10 ** 9, "CpuPeriod": 0, "CpuQuota": -1}, {"CpuShares": 1}, {"CpuShares": 1024},
    {"CpuPeriod": 1000}, {"CpuPeriod": 1000000, "CpuQuota": 1000}, {"CpuQuota": -1},
    {"CpusetCpus": "0-3"}, {"CpusetCpus": "+1,3"}, {"CpusetCpus": "0,0-1,3"}, {"CpusetMems": "0"},
    {"BlkioWeight": 10}, {"BlkioWeight": 1000}, {"PidsLimit": 0}, {"PidsLimit": -1}, {"PidsLimit": 100},
])
def test_limits_dockerd_accepts_are_accepted(body: Dict[str, Any]) -> None:
    types.check_resources(types.Resources(**body), "HostConfig", HOST)


def test_unknown_memory_nodes_leave_only_the_syntax_checked() -> None:
    host = types.HostCpus(count=4, cpus="0-3", mems="")
    types.check_resources(types.Resources(CpusetMems="0-7"), "HostConfig", host)
    assert "invalid format" in _refused({"CpusetMems": "0-"}, host)


def test_update_may_set_swap_alone_as_dockerd_allows() -> None:
    """An update carries only the changes; the recorded Memory is the engine's to compare."""
    types.check_resources(types.Resources(MemorySwap=64 * MB), "", HOST, update=True)
    assert "Minimum memory limit allowed is 6MB" in _refused({"Memory": MB}, update=True)


def test_create_checks_its_host_config() -> None:
    with pytest.raises(InvalidArgument) as caught:
        _create({"Memory": 4 * MB})
    assert caught.value.message == "invalid argument: HostConfig.Memory: 4194304: Minimum memory limit allowed is 6MB"
    with pytest.raises(InvalidArgument, match="HostConfig.BlkioWeight: 5: Range of blkio weight"):
        _create({"BlkioWeight": 5})


def test_create_checks_the_oom_score_range() -> None:
    for good in (-1000, 0, 1000):
        _create({"OomScoreAdj": good})
    with pytest.raises(InvalidArgument) as caught:
        _create({"OomScoreAdj": 1001})
    assert caught.value.message == ("invalid argument: HostConfig.OomScoreAdj: 1001: "
                                    "Invalid value 1001, range for oom score adj is [-1000, 1000]")


def test_update_checks_its_body_with_bare_field_names() -> None:
    with pytest.raises(InvalidArgument) as caught:
        _update({"Memory": 4 * MB})
    assert caught.value.message == "invalid argument: Memory: 4194304: Minimum memory limit allowed is 6MB"
    with pytest.raises(InvalidArgument, match="CpuPeriod: 10: CPU cfs period"):
        _update({"CpuPeriod": 10, "RestartPolicy": {"Name": "always"}})
    assert _update({"MemorySwap": 64 * MB}).MemorySwap == 64 * MB


def test_the_host_is_this_process_cpus() -> None:
    """runtime.NumCPU and the cpuset are this daemon's affinity: its containers can't get more."""
    host = types.host_cpus()
    mine = sorted(os.sched_getaffinity(0))
    assert host.count == len(mine)
    assert types.parse_cpu_list(host.cpus, 0)[0][0] == mine[0]
    with pytest.raises(InvalidArgument, match=f"as there are only {len(mine)} CPUs available"):
        _create({"NanoCpus": (len(mine) + 1) * 10 ** 9})
    with pytest.raises(InvalidArgument, match="Requested CPUs are not available"):
        _update({"CpusetCpus": str(mine[-1] + 1)})
    _create({"NanoCpus": len(mine) * 10 ** 9, "CpusetCpus": str(mine[0])})


def test_cpu_lists_parse_as_dockerd_parses_them() -> None:
    assert types.parse_cpu_list("0-2,5", 0) == [(0, 2), (5, 5)]
    assert types.parse_cpu_list("", 8) == []
    for bad in ("-1", "1--2", "1-", ",", "0x1", "1 "):
        with pytest.raises(ValueError, match="invalid format"):
            types.parse_cpu_list(bad, 0)
    with pytest.raises(ValueError, match="value of out range, maximum is 8"):
        types.parse_cpu_list("9", 8)
