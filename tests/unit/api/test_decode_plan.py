"""The decoder made once per type hint (api/decode.py) gives each body its own values, and the
refusal rows looked up once per type (api/support.py) still name the nested field."""
from __future__ import annotations

import json
from typing import List

import pytest

from rootless.api import support, types
from rootless.api.decode import decode_body, to_wire
from rootless.errors import InvalidArgument
from tests.unit.api import bodies


def test_two_decodes_of_one_body_share_no_mutable_value() -> None:
    body = json.loads(bodies.CLI_RUN)
    first, second = decode_body(types.ContainerCreate, body), decode_body(types.ContainerCreate, body)
    assert first == second and to_wire(first) == body
    assert first.HostConfig is not None and second.HostConfig is not None
    assert first.HostConfig.ConsoleSize is not second.HostConfig.ConsoleSize
    assert first.HostConfig.Ulimits is not second.HostConfig.Ulimits


def test_a_padded_go_array_is_a_new_list_each_time() -> None:
    one = decode_body(types.ContainerCreate, {"HostConfig": {"ConsoleSize": [3]}}).HostConfig
    two = decode_body(types.ContainerCreate, {"HostConfig": {"ConsoleSize": [4]}}).HostConfig
    assert one is not None and two is not None
    assert (one.ConsoleSize, two.ConsoleSize) == ([3, 0], [4, 0])


def test_a_failed_decode_leaves_the_next_one_of_that_type_right() -> None:
    with pytest.raises(InvalidArgument, match=r"HostConfig\.Ulimits\[0\]\.Soft: expected an integer"):
        decode_body(types.ContainerCreate, {"HostConfig": {"Ulimits": [{"Name": "n", "Soft": "1"}]}})
    spec = decode_body(types.ContainerCreate, {"HostConfig": {"Ulimits": [{"Name": "n", "Soft": 1}]}})
    assert spec.HostConfig is not None and spec.HostConfig.Ulimits == [types.Ulimit(Name="n", Soft=1)]


def test_a_refused_field_inside_a_list_of_structs_is_named_by_its_path() -> None:
    body = {"Name": "n", "IPAM": {"Config": [{"Subnet": "10.1.0.0/24"},
                                             {"Subnet": "fd00::/64", "AuxiliaryAddresses": {"a": "fd00::9"}}]}}
    with pytest.raises(InvalidArgument, match=r"^invalid argument: IPAM\.Config\[1\]\.AuxiliaryAddresses: "
                                              r'\{"a": "fd00::9"\}: auxiliary addresses are'):
        support.decode_request(types.NetworkCreate, body)


def test_the_hosts_cpus_are_read_only_for_a_body_that_asks_for_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: List[int] = []
    real = types.host_cpus
    monkeypatch.setattr(types, "host_cpus", lambda: asked.append(1) or real())
    decode_body(types.ContainerCreate, json.loads(bodies.CLI_RUN_IT))
    assert asked == []
    ncpu = real().count
    with pytest.raises(InvalidArgument, match=f"as there are only {ncpu} CPUs available"):
        decode_body(types.ContainerCreate, {"HostConfig": {"NanoCpus": (ncpu + 1) * 1_000_000_000}})
    with pytest.raises(InvalidArgument, match="Requested CPUs are not available"):
        decode_body(types.ContainerCreate, {"HostConfig": {"CpusetCpus": "4000"}})
    assert asked == [1, 1]
