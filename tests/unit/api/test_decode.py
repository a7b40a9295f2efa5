"""The API edge's decoder: real client bodies decode, every mistyped field is a 400 naming it."""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, List, Type

import pytest

from rootless.api import types
from rootless.api.decode import decode, decode_body, to_wire
from rootless.errors import InvalidArgument
from tests.unit.api import bodies


def _create(body: Dict[str, Any]) -> types.ContainerCreate:
    return decode_body(types.ContainerCreate, body)


# -- what the real clients send -----------------------------------------------------
def test_a_docker_cli_28_run_body_decodes_and_keeps_every_field() -> None:
    body = json.loads(bodies.CLI_RUN)
    spec = _create(body)
    assert spec.Cmd == ["sh", "-c", "echo hi"] and spec.Entrypoint is None
    assert spec.HostConfig is not None and spec.HostConfig.RestartPolicy.MaximumRetryCount == 3
    assert spec.HostConfig.Ulimits == [types.Ulimit(Name="nofile", Hard=2048, Soft=1024)]
    assert spec.HostConfig.MemorySwappiness == -1 and spec.HostConfig.ConsoleSize == [0, 0]
    assert spec.NetworkingConfig is not None and spec.NetworkingConfig.EndpointsConfig is not None
    assert spec.NetworkingConfig.EndpointsConfig["net1"] is not None
    assert spec.NetworkingConfig.EndpointsConfig["net1"].Aliases == ["al"]
    # Every field the CLI sends is in the schema, so the engine sees the body unchanged.
    assert to_wire(spec) == body


@pytest.mark.parametrize("name", ["CLI_RUN_IT", "PY_CREATE_CONTAINER"])
def test_other_real_create_bodies_round_trip(name: str) -> None:
    body = json.loads(getattr(bodies, name))
    assert to_wire(_create(body)) == body


def test_a_docker_py_create_body_decodes_its_nulls_as_go_does() -> None:
    body = json.loads(bodies.PY_CONTAINERS_CREATE)
    spec = _create(body)
    wire = to_wire(spec)
    # docker-py sends {"n1": null} as NetworkingConfig (not a field: Go ignores it, so do we).
    assert wire["NetworkingConfig"] == {}
    # Healthcheck durations sent as null are Go's zero.
    assert wire["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 1000000000, "Timeout": 0,
                                   "Retries": 0, "StartPeriod": 0}
    assert {k: v for k, v in wire.items() if k not in ("NetworkingConfig", "Healthcheck")} == \
        {k: v for k, v in body.items() if k not in ("NetworkingConfig", "Healthcheck")}


@pytest.mark.parametrize("cls,name", [
    (types.ExecCreate, "CLI_EXEC"), (types.ExecCreate, "PY_EXEC"), (types.ExecStart, "CLI_EXEC_START"),
    (types.NetworkCreate, "CLI_NETWORK_CREATE"), (types.NetworkCreate, "PY_NETWORK_CREATE"),
    (types.VolumeCreate, "CLI_VOLUME_CREATE"), (types.VolumeCreate, "PY_VOLUME_CREATE"),
    (types.NetworkConnect, "CLI_NETWORK_CONNECT"), (types.NetworkDisconnect, "CLI_NETWORK_DISCONNECT"),
])
def test_real_exec_network_and_volume_bodies_decode(cls: Type[types.WireStruct], name: str) -> None:
    body = json.loads(getattr(bodies, name))
    wire = to_wire(decode_body(cls, body))
    assert wire == {k: v for k, v in body.items() if k != "Container" or cls is not types.ExecCreate}


def test_network_create_body_fields_are_typed() -> None:
    spec = decode_body(types.NetworkCreate, json.loads(bodies.CLI_NETWORK_CREATE))
    assert spec.Name == "n1" and spec.IPAM is not None and spec.IPAM.Config is not None
    assert spec.IPAM.Config[0] == types.IPAMConfig(Subnet="10.1.0.0/24", Gateway="10.1.0.1")
    assert spec.Labels == {"x": "y"} and spec.Internal is False


# -- Go's decoding rules -------------------------------------------------------------------
def _all_structs() -> List[Type[types.WireStruct]]:
    return [obj for obj in vars(types).values()
            if isinstance(obj, type) and issubclass(obj, types.WireStruct) and obj is not types.WireStruct]


@pytest.mark.parametrize("cls", _all_structs(), ids=lambda c: c.__name__)
def test_null_is_accepted_for_every_field_as_go_accepts_it(cls: Type[types.WireStruct]) -> None:
    names = [f.name for f in dataclasses.fields(cls) if f.name != "fields_set"]
    # fields the checks after decoding need
    required = {types.NetworkCreate: {"Name": "net1"}, types.Mount: {"Type": "volume", "Target": "/t"}}
    extra = required.get(cls, {})
    obj = decode(cls, {**{name: None for name in names}, **extra})
    assert set(to_wire(obj)) == set(names)


def test_null_leaves_go_zero_values_and_nil_pointers() -> None:
    spec = _create({"Image": "busybox", "Tty": None, "User": None, "StopTimeout": None,
                    "HostConfig": {"RestartPolicy": None, "OomScoreAdj": None, "Init": None, "ConsoleSize": [5]}})
    assert spec.Tty is False and spec.User == "" and spec.StopTimeout is None
    assert spec.HostConfig is not None and spec.HostConfig.RestartPolicy == types.RestartPolicy()
    assert spec.HostConfig.OomScoreAdj == 0 and spec.HostConfig.Init is None
    assert spec.HostConfig.ConsoleSize == [5, 0]  # Go's [2]uint pads
    assert to_wire(spec)["HostConfig"]["RestartPolicy"] == {}


def test_field_names_match_case_insensitively_and_unknown_fields_are_dropped() -> None:
    spec = _create({"image": "busybox", "cmd": ["true"], "hostconfig": {"autoremove": True}, "Bogus": {"x": 1}})
    assert spec.Image == "busybox" and spec.Cmd == ["true"]
    assert to_wire(spec) == {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"AutoRemove": True}}


def test_a_strslice_string_becomes_one_argument_as_moby_decodes_it() -> None:
    assert _create({"Cmd": "echo hi", "Entrypoint": ""}).Cmd == ["echo hi"]
    assert to_wire(_create({"Entrypoint": ""}))["Entrypoint"] == [""]
    assert _create({"HostConfig": {"CapAdd": "NET_ADMIN"}}).HostConfig == types.HostConfig(CapAdd=["NET_ADMIN"])


def test_an_empty_body_is_an_empty_object() -> None:
    assert decode_body(types.ExecStart, None) == types.ExecStart()
    assert to_wire(decode_body(types.ExecStart, {})) == {}


# -- mistyped fields: a 400 that names the field --------------------------------------------
MISTYPED = [
    ({"Cmd": [1, 2]}, "Cmd[0]: expected a string, got number"),
    ({"Env": [None]}, "Env[0]: expected a string, got null"),
    ({"Env": "A=1"}, "Env: expected an array, got string"),
    ({"Entrypoint": 5}, "Entrypoint: expected a string or an array of strings, got number"),
    ({"Labels": {"a": 1}}, 'Labels["a"]: expected a string, got number'),
    ({"Labels": {"a": None}}, 'Labels["a"]: expected a string, got null'),
    ({"Labels": ["a=b"]}, "Labels: expected an object, got array"),
    ({"Tty": "yes"}, "Tty: expected a boolean, got string"),
    ({"Image": ["busybox"]}, "Image: expected a string, got array"),
    ({"StopTimeout": 1.5}, "StopTimeout: expected an integer, got number"),
    ({"StopTimeout": True}, "StopTimeout: expected an integer, got boolean"),
    ({"ExposedPorts": {"80/tcp": "x"}}, 'ExposedPorts["80/tcp"]: expected an object, got string'),
    ({"Healthcheck": {"Interval": "1s"}}, "Healthcheck.Interval: expected an integer, got string"),
    ({"Healthcheck": {"Test": "CMD true"}}, "Healthcheck.Test: expected an array, got string"),
    ({"HostConfig": "x"}, "HostConfig: expected an object, got string"),
    ({"HostConfig": {"Ulimits": ["nofile=1:2"]}}, "HostConfig.Ulimits[0]: expected an object, got string"),
    ({"HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": "1", "Hard": 2}]}},
     "HostConfig.Ulimits[0].Soft: expected an integer, got string"),
    ({"HostConfig": {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": "x"}}},
     "HostConfig.RestartPolicy.MaximumRetryCount: expected an integer, got string"),
    ({"HostConfig": {"RestartPolicy": "always"}}, "HostConfig.RestartPolicy: expected an object, got string"),
    ({"HostConfig": {"Memory": True}}, "HostConfig.Memory: expected an integer, got boolean"),
    ({"HostConfig": {"BlkioWeight": 70000}}, "HostConfig.BlkioWeight: 70000 is out of range for uint16"),
    ({"HostConfig": {"IOMaximumIOps": -1}}, "HostConfig.IOMaximumIOps: -1 is out of range for uint64"),
    ({"HostConfig": {"Memory": 1 << 63}}, "HostConfig.Memory: 9223372036854775808 is out of range for int64"),
    ({"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": 80}]}}},
     'HostConfig.PortBindings["80/tcp"][0].HostPort: expected a string, got number'),
    ({"HostConfig": {"PortBindings": {"80/tcp": {"HostPort": "80"}}}},
     'HostConfig.PortBindings["80/tcp"]: expected an array, got object'),
    ({"HostConfig": {"Binds": [None]}}, "HostConfig.Binds[0]: expected a string, got null"),
    ({"HostConfig": {"Mounts": [{"Target": 5}]}}, "HostConfig.Mounts[0].Target: expected a string, got number"),
    ({"HostConfig": {"Mounts": [{"Type": "volume", "Target": "/t", "VolumeOptions": {"Labels": {"a": 2}}}]}},
     'HostConfig.Mounts[0].VolumeOptions.Labels["a"]: expected a string, got number'),
    ({"HostConfig": {"LogConfig": {"Config": {"max-size": 10}}}},
     'HostConfig.LogConfig.Config["max-size"]: expected a string, got number'),
    ({"HostConfig": {"Tmpfs": ["/run"]}}, "HostConfig.Tmpfs: expected an object, got array"),
    ({"HostConfig": {"ConsoleSize": [-1, 2]}}, "HostConfig.ConsoleSize[0]: -1 is out of range for uint64"),
    ({"HostConfig": {"DeviceRequests": [{"Capabilities": [["gpu", 1]]}]}},
     "HostConfig.DeviceRequests[0].Capabilities[0][1]: expected a string, got number"),
    ({"NetworkingConfig": {"EndpointsConfig": {"n": {"Aliases": "a"}}}},
     'NetworkingConfig.EndpointsConfig["n"].Aliases: expected an array, got string'),
    ({"NetworkingConfig": []}, "NetworkingConfig: expected an object, got array"),
]


@pytest.mark.parametrize("body,message", MISTYPED, ids=[m.split(":")[0] for _, m in MISTYPED])
def test_a_mistyped_create_field_is_invalid_argument_naming_it(body: Dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        _create({"Image": "busybox", **body})
    assert caught.value.http_status == 400
    assert caught.value.message.startswith("invalid argument: " + message)


@pytest.mark.parametrize("body", [[], "x", 5, True])
def test_a_body_that_is_not_an_object_is_refused(body: Any) -> None:
    with pytest.raises(InvalidArgument, match="invalid argument: body: expected an object"):
        _create(body)


@pytest.mark.parametrize("cls,body,message", [
    (types.ExecCreate, {"Cmd": "ls"}, "Cmd: expected an array, got string"),
    (types.ExecCreate, {"Cmd": ["ls"], "Env": [1]}, "Env[0]: expected a string, got number"),
    (types.ExecCreate, {"Cmd": ["ls"], "Privileged": "no"}, "Privileged: expected a boolean, got string"),
    (types.ExecStart, {"Detach": "true"}, "Detach: expected a boolean, got string"),
    (types.ExecStart, [], "body: expected an object, got array"),
    (types.VolumeCreate, {"Name": 5}, "Name: expected a string, got number"),
    (types.VolumeCreate, {"Labels": {"a": ["b"]}}, 'Labels["a"]: expected a string, got array'),
    (types.VolumeCreate, {"DriverOpts": "o=x"}, "DriverOpts: expected an object, got string"),
    (types.NetworkCreate, {"Name": ["n"]}, "Name: expected a string, got array"),
    (types.NetworkCreate, {"Name": "n", "IPAM": {"Config": [{"Subnet": 10}]}},
     "IPAM.Config[0].Subnet: expected a string, got number"),
    (types.NetworkCreate, {"Name": "n", "Internal": 1}, "Internal: expected a boolean, got number"),
    (types.NetworkConnect, {"Container": 1}, "Container: expected a string, got number"),
    (types.NetworkConnect, {"Container": "c", "EndpointConfig": {"IPAMConfig": {"IPv4Address": 1}}},
     "EndpointConfig.IPAMConfig.IPv4Address: expected a string, got number"),
    (types.NetworkDisconnect, {"Container": "c", "Force": "yes"}, "Force: expected a boolean, got string"),
    (types.AuthConfig, {"username": "u", "password": 5}, "password: expected a string, got number"),
])
def test_mistyped_exec_volume_and_network_fields_are_named(cls: Type[types.WireStruct], body: Any,
                                                            message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        decode_body(cls, body)
    assert caught.value.message.startswith("invalid argument: " + message)


def test_login_bodies_of_both_clients_decode() -> None:
    # docker-py's login() sends email and serveraddress even when they are None.
    py = decode_body(types.AuthConfig, {"username": "tester", "password": "secret", "email": None,
                                        "serveraddress": None})
    cli = decode_body(types.AuthConfig, {"username": "tester", "password": "secret",
                                         "serveraddress": "127.0.0.1:5000"})
    assert (py.username, py.password, py.serveraddress) == ("tester", "secret", "")
    assert cli.serveraddress == "127.0.0.1:5000"
