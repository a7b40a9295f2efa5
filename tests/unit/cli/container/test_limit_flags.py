"""docker's cgroup flags on `run`, `create` and `update` (issue 12): the same HostConfig names docker sends."""
from __future__ import annotations

import pytest

from rootless.cli.container import parse
from rootless.cli.container.body import CreateOptions, build_host_config
from rootless.cli.container.update import update_body
from rootless.errors import InvalidArgument

LIMIT_FLAGS = ("-m", "64m", "--memory-swap", "96m", "--memory-reservation", "32m", "-c", "512",
               "--cpu-period", "50000", "--cpu-quota", "25000", "--cpuset-cpus", "0-1", "--cpuset-mems", "0",
               "--blkio-weight", "300", "--pids-limit", "50")
LIMITS = {"Memory": 64 << 20, "MemorySwap": 96 << 20, "MemoryReservation": 32 << 20, "CpuShares": 512,
          "CpuPeriod": 50000, "CpuQuota": 25000, "CpusetCpus": "0-1", "CpusetMems": "0", "BlkioWeight": 300,
          "PidsLimit": 50}
UNSET = ("MemorySwap", "MemoryReservation", "CpuShares", "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems",
         "BlkioWeight")


@pytest.mark.parametrize("verb", ["run", "create"])
def test_run_and_create_send_every_limit_flag_in_its_host_config_field(invoke, fake_client, verb: str) -> None:
    fake_client.answers["create_container"] = {"Id": "f" * 64, "Warnings": []}
    extra = ("-d",) if verb == "run" else ()
    result = invoke(verb, *extra, *LIMIT_FLAGS, "img", "true")
    assert result.exit_code == 0, result.output
    (body, _, _), _ = fake_client.called("create_container")[0]
    host = body["HostConfig"]
    assert {key: host.get(key) for key in LIMITS} == LIMITS
    assert body["Cmd"] == ["true"]  # the flags stop at the image


def test_limits_not_given_are_not_sent() -> None:
    host = build_host_config(CreateOptions(memory="64m"), lambda path: "")
    assert host["Memory"] == 64 << 20
    assert [key for key in UNSET if key in host] == []


def test_memory_swap_minus_one_is_unlimited_and_sizes_take_units() -> None:
    host = build_host_config(CreateOptions(memory="1g", memory_swap="-1", memory_reservation="1.5k"), lambda p: "")
    assert (host["Memory"], host["MemorySwap"], host["MemoryReservation"]) == (1 << 30, -1, 1536)
    assert parse.parse_memory_swap(" -1 ") == -1
    assert parse.parse_memory_swap("2g") == 2 << 30
    with pytest.raises(InvalidArgument, match="invalid size: '-2'"):
        parse.parse_memory_swap("-2")
    with pytest.raises(InvalidArgument, match="invalid size: 'lots'"):
        build_host_config(CreateOptions(memory_reservation="lots"), lambda p: "")


def test_blkio_weight_zero_is_sent_as_docker_does_and_out_of_uint16_is_a_usage_error(invoke, fake_client) -> None:
    assert build_host_config(CreateOptions(blkio_weight=0), lambda p: "")["BlkioWeight"] == 0
    fake_client.answers["create_container"] = {"Id": "f" * 64, "Warnings": []}
    result = invoke("create", "--blkio-weight", "70000", "img")
    assert result.exit_code != 0 and "70000 is not in the range 0<=x<=65535" in result.output
    assert fake_client.called("create_container") == []
    result = invoke("create", "--cpu-shares", "many", "img")
    assert result.exit_code != 0 and "'many' is not a valid integer" in result.output


def test_update_sends_the_cpu_cpuset_io_and_reservation_flags(invoke, fake_client) -> None:
    fake_client.answers["update"] = {"Warnings": []}
    result = invoke("update", "-c", "256", "--cpuset-cpus", "1", "--blkio-weight", "500",
                    "--memory-reservation", "16m", "web")
    assert result.exit_code == 0, result.output
    body = {"CpuShares": 256, "CpusetCpus": "1", "BlkioWeight": 500, "MemoryReservation": 16 << 20}
    assert fake_client.called("update") == [(("web", body), {})]
    assert update_body({"memory_swap": "-1"}) == {"MemorySwap": -1}
