"""The wire schema: which fields it accepts, and the checks dockerd makes right after decoding."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Type

import pytest

from rootless.api import types
from rootless.api.decode import decode_body
from rootless.errors import InvalidArgument

# Every field the API accepts, per body. "Nothing accepted and silently not applied":
# a field added to api/types.py must be added here on purpose, with the engine code
# that applies it (or a refusal), so none slips in unnoticed.
ACCEPTED: Dict[Type[types.WireStruct], str] = {
    types.ContainerConfig: (
        "Hostname Domainname User AttachStdin AttachStdout AttachStderr ExposedPorts Tty OpenStdin StdinOnce "
        "Env Cmd Healthcheck ArgsEscaped Image Volumes WorkingDir Entrypoint NetworkDisabled MacAddress OnBuild "
        "Labels StopSignal StopTimeout Shell"),
    types.ContainerCreate: "<ContainerConfig> HostConfig NetworkingConfig",
    # Go embeds Resources in HostConfig and in UpdateConfig; its fields come first in both.
    types.Resources: (
        "CpuShares Memory NanoCpus CgroupParent BlkioWeight BlkioWeightDevice BlkioDeviceReadBps "
        "BlkioDeviceWriteBps BlkioDeviceReadIOps BlkioDeviceWriteIOps CpuPeriod CpuQuota CpuRealtimePeriod "
        "CpuRealtimeRuntime CpusetCpus CpusetMems Devices DeviceCgroupRules DeviceRequests KernelMemory "
        "KernelMemoryTCP MemoryReservation MemorySwap MemorySwappiness OomKillDisable PidsLimit Ulimits CpuCount "
        "CpuPercent IOMaximumIOps IOMaximumBandwidth"),
    types.ContainerUpdate: "<Resources> RestartPolicy",
    types.HostConfig: (
        "<Resources> Binds ContainerIDFile LogConfig NetworkMode PortBindings RestartPolicy AutoRemove VolumeDriver "
        "VolumesFrom ConsoleSize Annotations CapAdd CapDrop CgroupnsMode Dns DnsOptions DnsSearch ExtraHosts "
        "GroupAdd IpcMode Cgroup Links OomScoreAdj PidMode Privileged PublishAllPorts ReadonlyRootfs SecurityOpt "
        "StorageOpt Tmpfs UTSMode UsernsMode ShmSize Sysctls Runtime Isolation "
        "Mounts MaskedPaths ReadonlyPaths Init"),
    types.HealthConfig: "Test Interval Timeout StartPeriod StartInterval Retries",
    types.LogConfig: "Type Config",
    types.RestartPolicy: "Name MaximumRetryCount",
    types.PortBinding: "HostIp HostPort",
    types.Ulimit: "Name Hard Soft",
    types.DeviceMapping: "PathOnHost PathInContainer CgroupPermissions",
    types.WeightDevice: "Path Weight",
    types.ThrottleDevice: "Path Rate",
    types.DeviceRequest: "Driver Count DeviceIDs Capabilities Options",
    types.Mount: ("Type Source Target ReadOnly Consistency BindOptions VolumeOptions ImageOptions TmpfsOptions "
                  "ClusterOptions"),
    types.BindOptions: "Propagation NonRecursive CreateMountpoint ReadOnlyNonRecursive ReadOnlyForceRecursive",
    types.VolumeOptions: "NoCopy Labels Subpath DriverConfig",
    types.Driver: "Name Options",
    types.ImageOptions: "Subpath",
    types.TmpfsOptions: "SizeBytes Mode Options",
    types.Empty: "",
    types.NetworkingConfig: "EndpointsConfig",
    types.EndpointSettings: ("IPAMConfig Links Aliases MacAddress DriverOpts GwPriority NetworkID EndpointID "
                             "Gateway IPAddress IPPrefixLen IPv6Gateway GlobalIPv6Address GlobalIPv6PrefixLen "
                             "DNSNames"),
    types.EndpointIPAMConfig: "IPv4Address IPv6Address LinkLocalIPs",
    types.ExecCreate: ("User Privileged Tty ConsoleSize AttachStdin AttachStderr AttachStdout Detach DetachKeys "
                       "Env WorkingDir Cmd"),
    types.ExecStart: "Detach Tty ConsoleSize",
    types.VolumeCreate: "Name Driver DriverOpts Labels ClusterVolumeSpec",
    types.NetworkCreate: ("Name CheckDuplicate Driver Scope EnableIPv4 EnableIPv6 IPAM Internal Attachable "
                          "Ingress ConfigOnly ConfigFrom Options Labels"),
    types.IPAM: "Driver Options Config",
    types.IPAMConfig: "Subnet IPRange Gateway AuxiliaryAddresses",
    types.ConfigReference: "Network",
    types.NetworkConnect: "Container EndpointConfig",
    types.NetworkDisconnect: "Container Force",
    types.AuthConfig: "username password auth email serveraddress identitytoken registrytoken",
}


def _expected(cls: Type[types.WireStruct]) -> list:
    words = ACCEPTED[cls].split()
    for embedded in (types.ContainerConfig, types.Resources):
        if words and words[0] == f"<{embedded.__name__}>":
            words = ACCEPTED[embedded].split() + words[1:]
    return words


def test_the_accepted_fields_are_exactly_the_listed_ones() -> None:
    structs = {obj for obj in vars(types).values()
               if isinstance(obj, type) and issubclass(obj, types.WireStruct) and obj is not types.WireStruct}
    assert structs == set(ACCEPTED), "a body type was added or removed: list its fields in ACCEPTED"
    for cls in structs:
        fields = [f.name for f in dataclasses.fields(cls) if f.name != "fields_set"]
        assert fields == _expected(cls), f"{cls.__name__}: accepted fields changed"


def _create(body: Dict[str, Any]) -> types.ContainerCreate:
    return decode_body(types.ContainerCreate, {"Image": "busybox", **body})


# -- restart policy: moby's ValidateRestartPolicy ------------------------------------
@pytest.mark.parametrize("policy,message", [
    ({"Name": "sometimes"}, "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', "
                            "'on-failure', or 'unless-stopped'"),
    ({"Name": "always", "MaximumRetryCount": 3},
     "invalid restart policy: maximum retry count can only be used with 'on-failure'"),
    ({"Name": "no", "MaximumRetryCount": -1},
     "invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be negative"),
    ({"Name": "on-failure", "MaximumRetryCount": -2}, "invalid restart policy: maximum retry count cannot be negative"),
])
def test_restart_policies_dockerd_refuses_are_refused(policy: Dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        _create({"HostConfig": {"RestartPolicy": policy}})
    assert caught.value.message == message


@pytest.mark.parametrize("policy", [{"Name": ""}, {"Name": "", "MaximumRetryCount": 5}, {"Name": "no"},
                                    {"Name": "on-failure", "MaximumRetryCount": 3}, {"Name": "unless-stopped"}])
def test_restart_policies_dockerd_accepts_are_accepted(policy: Dict[str, Any]) -> None:
    _create({"HostConfig": {"RestartPolicy": policy}})


# -- ports ---------------------------------------------------------------------------------
@pytest.mark.parametrize("host_config,bad", [
    ({"PortBindings": {"http/tcp": [{"HostPort": "80"}]}}, "'http/tcp'"),
    ({"PortBindings": {"80/icmp": None}}, "'80/icmp'"),
    ({"PortBindings": {"70000/tcp": None}}, "'70000/tcp'"),
    ({"PortBindings": {"": None}}, "''"),
    ({"PortBindings": {"80/tcp": [{"HostPort": "eighty"}]}}, "'eighty'"),
    ({"PortBindings": {"80/tcp": [{"HostPort": "90-80"}]}}, "'90-80'"),
    ({"PortBindings": {"80/tcp": [{"HostPort": "80\n"}]}}, "'80\\n'"),
])
def test_bad_port_specs_are_refused_like_dockerd(host_config: Dict[str, Any], bad: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid port specification: " + bad.replace("\\", "\\\\")):
        _create({"HostConfig": host_config})


def test_exposed_ports_are_port_specs() -> None:
    with pytest.raises(InvalidArgument, match="invalid port specification: '8080/tcp\\\\n'"):
        _create({"ExposedPorts": {"8080/tcp\n": {}}})


def test_good_port_specs_pass() -> None:
    _create({"ExposedPorts": {"80/tcp": {}, "53/udp": None, "9": {}},
             "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": ""}, None],
                                             "53/udp": [{"HostPort": "5300-5310"}], "9": None}}})


# -- mounts and volume names ---------------------------------------------------------------
@pytest.mark.parametrize("mount,message", [
    ({"Type": "weird", "Target": "/t"}, 'invalid mount config for type "weird": mount type unknown'),
    ({"Type": "npipe", "Target": "/t"}, 'invalid mount config for type "npipe": not supported by rootless'),
    ({"Type": "bind", "Source": "/tmp"}, 'invalid mount config for type "bind": field Target must not be empty'),
    ({"Source": "v", "Target": "/t"}, 'invalid mount config for type "": mount type unknown'),
    ({"Type": "bind", "Target": "/t"}, 'invalid mount config for type "bind": field Source must not be empty'),
    ({"Type": "bind", "Source": "rel", "Target": "/t"}, "invalid mount path: 'rel' mount path must be absolute"),
    ({"Type": "volume", "Target": "t"}, "invalid mount path: 't' mount path must be absolute"),
    ({"Type": "tmpfs", "Source": "x", "Target": "/t"}, "field Source must not be specified"),
    ({"Type": "volume", "Source": "/host", "Target": "/t"}, "includes invalid characters for a local volume name"),
    (None, 'invalid mount config for type "": mount type unknown'),  # Go's zero Mount
    ({"Type": "volume", "Source": "nlvol\n", "Target": "/t"}, "includes invalid characters for a local volume name"),
    ({"Type": "volume", "Target": "/t", "VolumeOptions": {"Labels": {"": "x"}}}, "label key ''"),
])
def test_bad_mounts_are_refused(mount: Any, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        _create({"HostConfig": {"Mounts": [mount]}})
    assert message in caught.value.message


def test_good_mounts_pass() -> None:
    _create({"HostConfig": {"Mounts": [
        {"Type": "bind", "Source": "/tmp", "Target": "/b", "ReadOnly": True, "BindOptions": {"Propagation": "rprivate"}},
        {"Type": "volume", "Target": "/anon"}, {"Type": "volume", "Source": "named", "Target": "/v"},
        {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1777}}]}})


@pytest.mark.parametrize("bind", ["nlvol\n:/data", "a:/data", "bad name:/data:ro", "v" * 256 + ":/d"])
def test_binds_with_bad_volume_names_are_refused(bind: str) -> None:
    with pytest.raises(InvalidArgument, match="HostConfig.Binds\\[0\\]: includes invalid characters"):
        _create({"HostConfig": {"Binds": [bind]}})


@pytest.mark.parametrize("bind", ["vol:/data", "vol:/data:ro", "/host:/mnt", "./rel:/mnt", "/data"])
def test_binds_with_good_sources_pass(bind: str) -> None:
    _create({"HostConfig": {"Binds": [bind]}})


@pytest.mark.parametrize("name", ["nlvol\n", "x", "-lead", "a/b", "tab\tname", "v" * 256, "ü-vol"])
def test_volume_create_refuses_bad_names(name: str) -> None:
    with pytest.raises(InvalidArgument, match="includes invalid characters for a local volume name"):
        decode_body(types.VolumeCreate, {"Name": name})


def test_volume_create_accepts_docker_names_and_none() -> None:
    assert decode_body(types.VolumeCreate, {"Name": "my_vol-1.0"}).Name == "my_vol-1.0"
    assert decode_body(types.VolumeCreate, {"Name": "v" * 255}).Name == "v" * 255
    assert decode_body(types.VolumeCreate, {}).Name == ""  # the engine makes up a 64-hex name


def test_cluster_volumes_are_refused_not_ignored() -> None:
    with pytest.raises(InvalidArgument, match="ClusterVolumeSpec: cluster volumes need swarm mode"):
        decode_body(types.VolumeCreate, {"Name": "v1", "ClusterVolumeSpec": {"Group": "g"}})


@pytest.mark.parametrize("name", ["net\n", "", "   ", "a\x00b", "a\x7fb"])
def test_network_create_refuses_bad_names(name: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid name"):
        decode_body(types.NetworkCreate, {"Name": name})


@pytest.mark.parametrize("name", ["-x", "a b", " padded ", "a/b", "ü-net", "x:y", "n" * 256])
def test_network_create_takes_names_dockerd_takes(name: str) -> None:
    """moby 28 refuses only a blank name (libnetwork NewNetwork)."""
    assert decode_body(types.NetworkCreate, {"Name": name}).Name == name


# -- labels --------------------------------------------------------------------------------------
@pytest.mark.parametrize("labels,message", [
    ({f"k{i}": "v" for i in range(types.MAX_LABELS + 1)}, "1025 labels, at most 1024 are allowed"),
    ({"k" * (types.MAX_LABEL_KEY + 1): "v"}, "must be 1 to 1024 characters"),
    ({"": "v"}, "label key '': must be 1 to 1024 characters"),
    ({"big": "v" * types.MAX_LABELS_SIZE}, "at most 262144 are allowed"),
])
def test_labels_are_bounded_on_every_body(labels: Dict[str, str], message: str) -> None:
    for cls, body in ((types.ContainerCreate, {"Image": "busybox"}), (types.VolumeCreate, {"Name": "vol"}),
                      (types.NetworkCreate, {"Name": "net"})):
        with pytest.raises(InvalidArgument) as caught:
            decode_body(cls, {**body, "Labels": labels})
        assert caught.value.message.startswith("invalid argument: Labels: ") and message in caught.value.message


def test_labels_within_the_limits_pass() -> None:
    labels = {f"com.example.k{i}": "v" * 200 for i in range(1000)}
    assert decode_body(types.VolumeCreate, {"Name": "vol", "Labels": labels}).Labels == labels
