"""Resource limits out of dockerd's ranges are a 400 with dockerd's words at create and at update,
and nothing is stored: no container is created, an update leaves the recorded limits as they were.
Before, they were stored and failed in crun at start (or were refused for a missing cgroup only)."""
from __future__ import annotations

import json
from typing import List

import pytest

from tests.integration.conftest import Engine

MB = 1024 * 1024


@pytest.fixture(scope="module")
def busybox(engine: Engine, images) -> str:  # type: ignore[no-untyped-def]
    engine.docker("pull", "-q", images.busybox, timeout=300)
    return str(images.busybox)


def _names(engine: Engine) -> List[str]:
    return engine.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()


@pytest.mark.parametrize("flags,message", [
    (["--memory", "4m"], "HostConfig.Memory: 4194304: Minimum memory limit allowed is 6MB"),
    (["--memory-swap", "64m"], "You should always set the Memory limit when using Memoryswap limit, see usage"),
    (["--memory", "64m", "--memory-swap", "32m"],
     "Minimum memoryswap limit should be larger than memory limit, see usage"),
    (["--cpus", "1", "--cpu-period", "50000"], "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
    (["--cpus", "4096"], "CPUs available"),
    (["--cpuset-cpus", "1-x"], "Invalid value 1-x for cpuset cpus: invalid format: 1-x"),
    (["--cpuset-cpus", "8000"], "Requested CPUs are not available - requested 8000, available: "),
    (["--blkio-weight", "5"], "HostConfig.BlkioWeight: 5: Range of blkio weight is from 10 to 1000"),
])
def test_docker_create_refuses_limits_dockerd_refuses(engine: Engine, busybox: str, flags: List[str],
                                                      message: str) -> None:
    result = engine.docker("create", "--name", "badlimit", *flags, busybox, "true", check=False)
    assert result.returncode == 1, result.stderr  # docker create; run would exit 125
    assert message in result.stderr
    assert "badlimit" not in _names(engine)


def test_docker_py_create_is_a_400_and_stores_nothing(engine: Engine, busybox: str) -> None:
    import docker
    client = engine.client()
    for kwargs, message in (({"cpu_period": 10}, "CPU cfs period can not be less than 1ms"),
                            ({"oom_score_adj": 1001}, "range for oom score adj is [-1000, 1000]"),
                            ({"cpu_shares": -2}, "invalid CPU shares (-2): value must be a positive integer")):
        with pytest.raises(docker.errors.APIError) as caught:
            client.containers.create(busybox, ["true"], name="badlimit-py", **kwargs)
        assert caught.value.status_code == 400, caught.value
        assert message in str(caught.value.explanation)
    assert "badlimit-py" not in [c.name for c in client.containers.list(all=True)]


def test_update_refuses_out_of_range_limits_and_keeps_the_recorded_ones(engine: Engine, busybox: str) -> None:
    import docker
    engine.docker("create", "--name", "upd-limits", busybox, "true")
    try:
        before = json.loads(engine.docker("inspect", "upd-limits").stdout)[0]["HostConfig"]
        refused = engine.docker("update", "--memory", "4m", "upd-limits", check=False)
        assert refused.returncode == 1
        assert "Memory: 4194304: Minimum memory limit allowed is 6MB" in refused.stderr
        refused = engine.docker("update", "--cpuset-cpus", "0-9999", "upd-limits", check=False)
        assert "Invalid value 0-9999 for cpuset cpus: value of out range, maximum is 8192" in refused.stderr
        container = engine.client().containers.get("upd-limits")
        with pytest.raises(docker.errors.APIError) as caught:
            container.update(blkio_weight=2000, mem_limit=64 * MB)
        assert caught.value.status_code == 400
        assert "Range of blkio weight is from 10 to 1000" in str(caught.value.explanation)
        after = json.loads(engine.docker("inspect", "upd-limits").stdout)[0]["HostConfig"]
        keys = ("Memory", "MemorySwap", "CpusetCpus", "BlkioWeight", "NanoCpus")
        assert {k: after[k] for k in keys} == {k: before[k] for k in keys}
    finally:
        engine.docker("rm", "-f", "upd-limits", check=False)
