"""Every accepted field is classified (applied, client-side, ignored as dockerd does, refused unless default),
and what clients send by default passes while what rootless would not apply is a 400 naming the field."""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict

import pytest

from rootless.api import support, types
from rootless.errors import InvalidArgument
from tests.unit.api import bodies
from tests.unit.api.test_types import ACCEPTED, _expected


def test_the_table_classifies_exactly_the_accepted_fields() -> None:
    # Resources is never a body of its own: its fields are classified in each type that embeds it
    # (HostConfig applies more of them than ContainerUpdate does).
    assert set(support.TABLE) == set(ACCEPTED) - {types.Resources}, "a body type has no row in api/support.py TABLE"
    for cls, table in support.TABLE.items():
        assert sorted(table) == sorted(_expected(cls)), f"{cls.__name__}: classify every field in api/support.py"
        for name, entry in table.items():
            assert entry.kind in (support.APPLIED, support.CLIENT, support.IGNORED, support.REFUSED), name
            if entry.kind != support.APPLIED:
                assert entry.why, f"{cls.__name__}.{name}: say who applies it or why it is refused"


@pytest.mark.parametrize("cls", list(support.TABLE))
def test_an_empty_body_of_every_type_passes(cls: Any) -> None:
    support.refuse_unsupported(cls())


@pytest.mark.parametrize("cls,name", [
    (types.ContainerCreate, "CLI_RUN_IT"), (types.ContainerCreate, "PY_CREATE_CONTAINER"),
    (types.ExecCreate, "CLI_EXEC"), (types.ExecStart, "CLI_EXEC_START"), (types.ExecCreate, "PY_EXEC"),
    (types.NetworkCreate, "CLI_NETWORK_CREATE"), (types.NetworkCreate, "PY_NETWORK_CREATE"),
    (types.NetworkConnect, "CLI_NETWORK_CONNECT"), (types.NetworkDisconnect, "CLI_NETWORK_DISCONNECT"),
    (types.VolumeCreate, "PY_VOLUME_CREATE"),
])
def test_what_clients_send_by_default_passes(cls: Any, name: str) -> None:
    support.decode_request(cls, json.loads(getattr(bodies, name)))


@pytest.mark.parametrize("name", ["CLI_RUN", "PY_CONTAINERS_CREATE"])
def test_captured_run_bodies_pass_health_checks_included(name: str) -> None:
    support.decode_request(types.ContainerCreate, json.loads(getattr(bodies, name)))


def test_a_captured_volume_body_with_driver_options_passes_to_the_local_driver() -> None:
    """volumes/options.py applies type=tmpfs and bind volumes and refuses the rest (tests/unit/volumes)."""
    spec = support.decode_request(types.VolumeCreate, json.loads(bodies.CLI_VOLUME_CREATE))
    assert spec.DriverOpts == {"type": "tmpfs"}


def _create(host_config: Dict[str, Any], **config: Any) -> types.ContainerCreate:
    return support.decode_request(types.ContainerCreate, {"Image": "busybox", "HostConfig": host_config, **config})


@pytest.mark.parametrize("host_config,message", [
    ({"PidMode": "private"}, 'HostConfig.PidMode: "private": invalid PID mode: expected host or container:'),
    ({"PidMode": "container:"}, 'HostConfig.PidMode: "container:": invalid PID mode'),
    ({"IpcMode": "weird"}, 'HostConfig.IpcMode: "weird": invalid IPC mode: expected private, shareable'),
    ({"Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwx"}]},
     "HostConfig.Devices: /dev/fuse: a device is /dev/PATH[:/CONTAINER/PATH][:PERMISSIONS of rwm]"),
    ({"Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "fuse", "CgroupPermissions": "rw"}]},
     "HostConfig.Devices: /dev/fuse: a device is"),
    ({"Devices": [{"PathOnHost": "dev/fuse", "PathInContainer": "", "CgroupPermissions": "rr"}]},
     "HostConfig.Devices: dev/fuse: a device is"),
    ({"DeviceCgroupRules": ["c 10:229 rwm"]}, "HostConfig.DeviceCgroupRules: "
     '["c 10:229 rwm"]: device access rules need the devices cgroup'),
    ({"CgroupParent": "x"}, 'HostConfig.CgroupParent: "x": rootless places containers'),
    ({"StorageOpt": {"size": "1G"}}, "HostConfig.StorageOpt: size=1G: per-container storage options"),
    ({"CgroupnsMode": "host"}, 'HostConfig.CgroupnsMode: "host"'),
    ({"UTSMode": "host"}, 'HostConfig.UTSMode: "host"'),
    ({"UsernsMode": "host"}, 'HostConfig.UsernsMode: "host"'),
    ({"Runtime": "kata"}, 'HostConfig.Runtime: "kata": rootless runs the containers with the one OCI runtime'),
    ({"MemorySwappiness": 10}, "HostConfig.MemorySwappiness: 10"),
    ({"BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1}]}, "HostConfig.BlkioDeviceReadBps: /dev/sda"),
    ({"MaskedPaths": ["proc/kcore"]}, "HostConfig.MaskedPaths"),
    ({"Mounts": [{"Type": "bind", "Source": "/tmp", "Target": "/t", "BindOptions": {"CreateMountpoint": True}}]},
     "HostConfig.Mounts[0].BindOptions.CreateMountpoint: true"),
    ({"Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"Options": [["exec"]]}}]},
     "HostConfig.Mounts[0].TmpfsOptions.Options"),
    ({"Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": -1}}]},
     "HostConfig.Mounts[0].TmpfsOptions.SizeBytes: -1: a size can't be negative"),
    ({"Mounts": [{"Type": "volume", "Target": "/v", "BindOptions": {"Propagation": "rprivate"}}]},
     'invalid mount config for type "volume": field BindOptions must not be specified'),
    ({"Mounts": [{"Type": "bind", "Source": "/tmp", "Target": "/t", "BindOptions": {"Propagation": "weird"}}]},
     'HostConfig.Mounts[0].BindOptions.Propagation: "weird"'),
])
def test_options_rootless_would_not_apply_are_400s_naming_the_field(host_config: Dict[str, Any],
                                                                     message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        _create(host_config)
    assert message in caught.value.message


@pytest.mark.parametrize("host_config", [
    {"PidMode": "", "IpcMode": "private", "CgroupnsMode": "private", "Runtime": "runc", "Isolation": "default",
     "VolumeDriver": "local", "MemorySwappiness": -1, "OomKillDisable": False, "ConsoleSize": [40, 120]},
    {"IpcMode": "shareable", "Runtime": "crun", "MaskedPaths": [], "ReadonlyPaths": ["/proc/sys"],
     "Annotations": {"a": "b"}, "DnsOptions": ["ndots:2"]},
    {"PidMode": "host", "IpcMode": "host", "NetworkMode": "host"},
    {"PidMode": "container:abc", "IpcMode": "container:abc", "NetworkMode": "container:abc"},
    {"IpcMode": "none", "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse",
                                     "CgroupPermissions": "rwm"},
                                    {"PathOnHost": "/dev/null", "PathInContainer": "/dev/n", "CgroupPermissions": "r"}]},
    {"Mounts": [{"Type": "bind", "Source": "/tmp", "Target": "/b", "BindOptions": {"Propagation": "rprivate"}},
                {"Type": "volume", "Target": "/v", "VolumeOptions": {"NoCopy": True, "Labels": {"a": "b"},
                                                                     "DriverConfig": {"Name": "local"}}},
                {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o700}}]},
])
def test_options_rootless_applies_pass(host_config: Dict[str, Any]) -> None:
    _create(host_config)


def test_a_health_check_that_turns_the_image_check_off_passes() -> None:
    _create({}, Healthcheck={"Test": ["NONE"]})


@pytest.mark.parametrize("check,message", [
    ({"Test": ["CMD"]}, "Healthcheck.Test"),
    ({"Test": ["SHELL", "true"]}, "Healthcheck.Test"),
    ({"Test": ["CMD", "true"], "Interval": 5}, "Interval in Healthcheck cannot be less than 1ms"),
    ({"Test": ["CMD", "true"], "StartInterval": 999}, "StartInterval in Healthcheck cannot be less than 1ms"),
    ({"Test": ["CMD", "true"], "Retries": -1}, "Retries in Healthcheck cannot be negative"),
])
def test_a_health_check_docker_refuses_is_a_400_naming_the_field(check: Dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        _create({}, Healthcheck=check)


def test_a_second_builtin_network_at_create_is_refused_not_ignored() -> None:
    body = {"Image": "busybox", "HostConfig": {"NetworkMode": "n1"},
            "NetworkingConfig": {"EndpointsConfig": {"n1": {}, "host": {}}}}
    with pytest.raises(InvalidArgument, match='EndpointsConfig\\["host"\\]: connecting the built-in host'):
        support.decode_request(types.ContainerCreate, body)
    del body["NetworkingConfig"]["EndpointsConfig"]["host"]
    body["NetworkingConfig"]["EndpointsConfig"]["n2"] = {"Aliases": ["x"]}  # API 1.44: more user networks
    support.decode_request(types.ContainerCreate, body)


@pytest.mark.parametrize("body,message", [
    ({"Name": "n", "ConfigOnly": True}, "ConfigOnly: true: config-only networks are not supported by rootless yet"),
    ({"Name": "n", "IPAM": {"Config": [{"Subnet": "10.9.0.0/24"}, {"Subnet": "10.9.1.0/24"}]}}, "IPAM.Config"),
    ({"Name": "n", "EnableIPv6": True, "IPAM": {"Config": [{"Subnet": "fd00:1::/64"}, {"Subnet": "fd00:2::/64"}]}},
     "one IPv4 and one IPv6 subnet"),
    ({"Name": "n", "IPAM": {"Driver": "other"}}, 'IPAM.Driver: "other"'),
])
def test_network_options_rootless_would_not_apply_are_refused(body: Dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        support.decode_request(types.NetworkCreate, body)
    assert message in caught.value.message


def test_network_options_are_accepted_as_a_record() -> None:
    spec = support.decode_request(types.NetworkCreate, {"Name": "n", "Options": {"x": "y"}, "EnableIPv6": False,
                                                        "EnableIPv4": True, "IPAM": {"Driver": "default"}})
    assert spec.Options == {"x": "y"}


def test_every_refused_field_is_refused_with_a_non_default_value() -> None:
    """Each REFUSED top-level scalar field: a non-zero value of its type is a 400 naming it."""
    samples = {str: "x", bool: True, int: 7}
    for cls in (types.HostConfig, types.ContainerConfig, types.NetworkCreate):
        for item in dataclasses.fields(cls):
            entry = support.TABLE[cls].get(item.name)
            if entry is None or entry.kind != support.REFUSED:
                continue
            value = getattr(cls(), item.name)
            if type(value) not in samples:
                continue
            with pytest.raises(InvalidArgument, match=f"invalid argument: {item.name}: "):
                support.refuse_unsupported(dataclasses.replace(cls(), **{item.name: samples[type(value)]}))


# docker-compose 1.29 through docker-py 5: create_container_config sends every Config key (None when unset)
# and create_host_config the ones compose always passes (links=[], volumes_from=[], binds=[]).
COMPOSE_CREATE = {
    "Hostname": None, "Domainname": None, "ExposedPorts": {"80/tcp": {}}, "User": None, "Tty": False,
    "OpenStdin": False, "StdinOnce": False, "AttachStdin": False, "AttachStdout": False, "AttachStderr": False,
    "Env": ["A=1"], "Cmd": None, "Image": "busybox", "Volumes": {"/data": {}}, "NetworkDisabled": False,
    "Entrypoint": None, "WorkingDir": None, "MacAddress": None, "Labels": {
        "com.docker.compose.project": "p", "com.docker.compose.service": "web"},
    "StopSignal": None, "Healthcheck": None, "StopTimeout": None, "Runtime": None,
    "HostConfig": {"Links": [], "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}, "Binds": [],
                   "VolumesFrom": [], "Privileged": False, "NetworkMode": "p_default", "LogConfig": {"Type": "",
                   "Config": {}}, "ReadonlyRootfs": False, "Init": None},
    "NetworkingConfig": {"EndpointsConfig": {"p_default": {"Aliases": ["web"], "IPAMConfig": {}}}},
}


def test_a_docker_compose_1_29_create_body_passes() -> None:
    support.decode_request(types.ContainerCreate, COMPOSE_CREATE)


# The docker CLI's `docker update --memory 64m --restart always c` body: every Resources field, zeros for the rest.
CLI_UPDATE = {
    "CpuShares": 0, "Memory": 67108864, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
    "BlkioWeightDevice": None, "BlkioDeviceReadBps": None, "BlkioDeviceWriteBps": None, "BlkioDeviceReadIOps": None,
    "BlkioDeviceWriteIOps": None, "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
    "CpusetCpus": "", "CpusetMems": "", "Devices": None, "DeviceCgroupRules": None, "DeviceRequests": None,
    "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": None, "OomKillDisable": None, "PidsLimit": None,
    "Ulimits": None, "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
    "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
}


def test_update_applies_limits_and_restart_policy_and_refuses_every_other_field() -> None:
    update = support.decode_request(types.ContainerUpdate, CLI_UPDATE)
    assert update.Memory == 64 << 20 and update.RestartPolicy.Name == "always"
    for name, entry in support.UPDATE.items():
        assert (entry.kind == support.APPLIED) == (name in support.UPDATE_LIMITS + ("RestartPolicy",)), name
    for body, message in (({"Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 1}]}, "^invalid argument: Ulimits: "),
                          ({"DeviceRequests": [{"Driver": "cdi", "DeviceIDs": ["vendor.com/gpu=0"]}]},
                           "^invalid argument: DeviceRequests: "),
                          ({"Devices": [{"PathOnHost": "vendor.com/class=x"}]}, "^invalid argument: Devices: "),
                          ({"CpuRealtimeRuntime": 5}, "CpuRealtimeRuntime: 5: real-time CPU scheduling")):
        with pytest.raises(InvalidArgument, match=message):
            support.decode_request(types.ContainerUpdate, {**CLI_UPDATE, **body})


CDI_REQUEST = {"Driver": "cdi", "Count": 0, "DeviceIDs": ["vendor.com/test=dev"], "Capabilities": None}
GPUS_ALL = {"Driver": "", "Count": -1, "DeviceIDs": None, "Capabilities": [["gpu"]], "Options": {}}


@pytest.mark.parametrize("host_config", [
    {"DeviceRequests": [GPUS_ALL, CDI_REQUEST]},  # what docker 28 sends for --gpus all --device vendor.com/test=dev
    {"DeviceRequests": [{**GPUS_ALL, "Count": 0, "DeviceIDs": ["0", "1"]}]},
    {"Devices": [{"PathOnHost": "vendor.com/test=dev", "PathInContainer": "", "CgroupPermissions": "rwm"}]},
])
def test_cdi_devices_and_gpus_are_accepted(host_config: Dict[str, Any]) -> None:
    _create(host_config)


@pytest.mark.parametrize("request_body", [
    {**CDI_REQUEST, "DeviceIDs": ["/dev/fuse"]}, {**CDI_REQUEST, "DeviceIDs": []},
    {**GPUS_ALL, "Count": 2}, {**GPUS_ALL, "Capabilities": [["gpu", "compute"]]},
    {**GPUS_ALL, "Options": {"x": "y"}}, {**GPUS_ALL, "Driver": "amd"},
])
def test_device_requests_rootless_would_not_apply_are_refused(request_body: Dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument) as caught:
        _create({"DeviceRequests": [request_body]})
    assert "HostConfig.DeviceRequests" in caught.value.message
