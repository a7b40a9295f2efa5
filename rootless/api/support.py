"""What rootless does with every field the API accepts: the one table, checked at the API edge.

The project's first rule is "nothing accepted and silently not applied". Every
field of every body in api/types.py is classified here as

- APPLIED: the engine applies it (some values may still be refused: ``ok``);
- CLIENT: the client acts on it and dockerd ignores it too (ContainerIDFile:
  the docker CLI writes the file itself);
- IGNORED: meaningless on Linux or an inspect output field that dockerd also
  ignores in requests (ArgsEscaped, Mount.Consistency, EndpointSettings.IPAddress);
- REFUSED: not supported; refused with a 400 naming the field and why, but only
  when the value differs from what clients send by default (the docker CLI
  sends ``"PidMode": ""``, ``"Devices": []``, ``"MemorySwappiness": -1``).

tests/unit/api/test_support.py fails when a field of api/types.py is missing
here, so a new field can't slip through unclassified.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type, TypeVar

from rootless.api import types
from rootless.api.decode import decode_body
from rootless.errors import InvalidArgument
from rootless.runtime import cdi

APPLIED, CLIENT, IGNORED, REFUSED = "applied", "client", "ignored", "refused"
# Both name the daemon's one OCI runtime: crun by default, "runc" is what docker
# shows and what tools copy from `docker inspect` (HostConfig.Runtime).
RUNTIME_NAMES = ("", "crun", "runc")
S = TypeVar("S", bound=types.WireStruct)


def is_zero(value: Any) -> bool:
    """Go's zero value, an empty list or map, or a struct of zeros: what clients send by default."""
    if isinstance(value, types.WireStruct):
        return all(is_zero(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "fields_set")
    if isinstance(value, (list, dict)):
        return not value or (isinstance(value, list) and all(item == 0 for item in value))
    return value is None or value is False or value == 0 or value == ""


def show(value: Any) -> str:
    """A value as the message quotes it: JSON, cut short."""
    return types.short(json.dumps(_plain(value), sort_keys=True), 80)


def _plain(value: Any) -> Any:
    if isinstance(value, types.WireStruct):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name != "fields_set" and not is_zero(getattr(value, f.name))}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class Support:
    """How one field is handled; ``ok`` says which values are accepted."""

    kind: str
    why: str = ""  # REFUSED: the reason in the message; otherwise who applies it and how
    ok: Optional[Callable[[Any], bool]] = None  # None: every value (REFUSED: only defaults)
    show: Callable[[Any], str] = show

    def accepts(self, value: Any) -> bool:
        if self.ok is not None:
            return self.ok(value)
        return self.kind != REFUSED or is_zero(value)


def applied(why: str = "", ok: Optional[Callable[[Any], bool]] = None, refusal: str = "",
            shown: Callable[[Any], str] = show) -> Support:
    """Applied by the engine; values ``ok`` refuses are refused with ``refusal``."""
    return Support(APPLIED, refusal or why, ok, shown)


def refused(why: str, also: Sequence[Any] = (), shown: Callable[[Any], str] = show,
            ok: Optional[Callable[[Any], bool]] = None) -> Support:
    """Refused unless zero (or one of ``also``: other defaults clients send, or ``ok``)."""
    return Support(REFUSED, why, lambda v: is_zero(v) or v in also or bool(ok and ok(v)), shown)


def within(parent: str) -> Support:
    """A field of a struct only reachable through ``parent``, which is refused unless zero."""
    return Support(REFUSED, f"refused with {parent}", lambda value: True)


def _is_cdi_mapping(device: Any) -> bool:
    """A Devices entry naming a CDI device (--device vendor.com/class=name from an older client)."""
    return isinstance(device, types.DeviceMapping) and cdi.is_qualified_name(device.PathOnHost) \
        and device.PathInContainer in ("", device.PathOnHost)


def _is_cdi_request(request: Any) -> bool:
    """docker >= 25's --device vendor.com/class=name (Driver "cdi"), or --gpus all|device=IDs."""
    if not isinstance(request, types.DeviceRequest) or request.Options:
        return False
    ids = request.DeviceIDs or []
    if request.Driver == "cdi":
        return bool(ids) and not request.Count and not request.Capabilities \
            and all(cdi.is_qualified_name(i) for i in ids)
    gpu = request.Capabilities == [["gpu"]]
    return request.Driver in ("", "nvidia") and gpu and (request.Count == -1) != bool(ids) \
        and request.Count in (-1, 0)


def _is_host_device(device: Any) -> bool:
    """A Devices entry --device /dev/PATH[:CPATH][:rwm] (runtime/devices.py checks the node at create)."""
    return isinstance(device, types.DeviceMapping) and device.PathOnHost.startswith("/") \
        and (not device.PathInContainer or device.PathInContainer.startswith("/")) \
        and len(set(device.CgroupPermissions)) == len(device.CgroupPermissions) \
        and all(c in "rwm" for c in device.CgroupPermissions)


def _namespace_mode(*values: str) -> Callable[[Any], bool]:
    """One of values, or container:<name|id> (another container's namespace, joined at start)."""
    return lambda mode: mode in values or (mode.startswith("container:") and len(mode) > len("container:"))


def one_of(*values: Any) -> Callable[[Any], bool]:
    return lambda value: value in values


def _first(attribute: str) -> Callable[[Any], str]:
    """Name the first item of a list of structs by one attribute (a device's path)."""
    return lambda items: next((str(getattr(i, attribute)) for i in items or [] if i is not None), show(items))


def _absolute_paths(paths: Optional[Sequence[str]]) -> bool:
    return all(p.startswith("/") for p in paths or [])


def _health_test(test: Optional[Sequence[str]]) -> bool:
    """Empty (the image's), ["NONE"], or CMD / CMD-SHELL with a command (moby's probe types)."""
    return not test or (test[0] == "NONE" and len(test) == 1) or (test[0] in ("CMD", "CMD-SHELL") and len(test) > 1)


def _health_duration(value: int) -> bool:
    return value == 0 or value >= 1_000_000  # moby's containertypes.MinimumDuration, 1ms


def _one_ipam(configs: Optional[Sequence[types.IPAMConfig]]) -> bool:
    """At most one IPv4 and one IPv6 entry (a colon in the subnet or gateway: IPv6)."""
    families = [":" in (c.Subnet or c.Gateway) for c in configs or []]
    return families.count(True) <= 1 and families.count(False) <= 1


def _local_driver(driver: Optional[types.Driver]) -> bool:
    return driver is None or (driver.Name in ("", "local") and not driver.Options)


YET = "not supported by rootless yet"
NO_CGROUP_DEVICES = "device access rules need the devices cgroup, which rootless does not manage"
WINDOWS = "a Windows-only option"
OUTPUT = "an inspect output field; dockerd ignores it in requests too"
ONE_RUNTIME = "rootless runs the containers with the one OCI runtime it is configured with (crun)"
NO_COMMIT = "used only by docker commit, which rootless does not have"

CONFIG: Dict[str, Support] = {
    "Hostname": applied("spec hostname, /etc/hostname"),
    "Domainname": applied("spec domainname"),
    "User": applied(), "AttachStdin": applied(), "AttachStdout": applied(), "AttachStderr": applied(),
    "ExposedPorts": applied("recorded; published by PublishAllPorts"), "Tty": applied(), "OpenStdin": applied(),
    "StdinOnce": applied(), "Env": applied(), "Cmd": applied(),
    "Healthcheck": applied("engine/health.py probes through exec"),
    "ArgsEscaped": Support(IGNORED, WINDOWS), "Image": applied(), "Volumes": applied("anonymous volumes"),
    "WorkingDir": applied(), "Entrypoint": applied(),
    "NetworkDisabled": applied("the container gets network mode none"),
    "MacAddress": applied("the MAC of the NetworkMode endpoint's veth (API < 1.44); refused on host, "
                          "none (engine/endpoints.py check_networks)"),
    "OnBuild": refused(NO_COMMIT), "Labels": applied(), "StopSignal": applied(), "StopTimeout": applied(),
    "Shell": refused(NO_COMMIT),
}

HOST_CONFIG: Dict[str, Support] = {
    "Binds": applied(), "ContainerIDFile": Support(CLIENT, "the docker CLI writes the file; dockerd ignores it"),
    "LogConfig": applied("json-file, local, journald (where its socket is) and none; types.LogConfig.check "
                         "refuses the rest in moby's words"), "NetworkMode": applied(
        "bridge, host, none, a user network, or container:<name|id>: its network namespace, joined at start"),
    "PortBindings": applied(), "RestartPolicy": applied(), "AutoRemove": applied(),
    "VolumeDriver": refused("only the local volume driver exists", also=("local",)),
    "VolumesFrom": applied("the other containers' binds and volumes, resolved at create "
                           "(engine/container_volumes.py)"),
    "ConsoleSize": Support(CLIENT, "the docker CLI resizes the TTY right after start (POST /resize)"),
    "Annotations": applied("OCI spec annotations; shown by inspect"),
    "CapAdd": applied(), "CapDrop": applied(),
    "CgroupnsMode": applied("a private cgroup namespace when cgroups are delegated", one_of("", "private"),
                            "a host cgroup namespace is " + YET),
    "Dns": applied(), "DnsOptions": applied("options line of /etc/resolv.conf"),
    "DnsSearch": applied("search line of /etc/resolv.conf"), "ExtraHosts": applied(), "GroupAdd": applied(),
    "IpcMode": applied("private, shareable (its /dev/shm a tmpfs of the engine others may join), none, host, "
                       "container:<name|id> of a shareable container (engine/container_namespaces.py)",
                       _namespace_mode("", "private", "shareable", "none", "host"),
                       "invalid IPC mode: expected private, shareable, none, host or container:<name|id>"),
    "Cgroup": refused("sharing another container's cgroup is " + YET),
    "Links": applied("legacy links (engine/links.py): hosts entries and, on the default bridge, <ALIAS>_* "
                     "variables"),
    "OomScoreAdj": applied(), "PidMode": applied(
        "host (no pid namespace, the host's /proc bound) or container:<name|id>", _namespace_mode("", "host"),
        "invalid PID mode: expected host or container:<name|id>"),
    "Privileged": applied(), "PublishAllPorts": applied(), "ReadonlyRootfs": applied(),
    "SecurityOpt": applied("seccomp, no-new-privileges, systempaths; label/apparmor have no meaning rootless"),
    "StorageOpt": refused("per-container storage options (size quotas) are " + YET,
                          shown=lambda opts: ", ".join(f"{k}={v}" for k, v in sorted((opts or {}).items()))),
    "Tmpfs": applied(), "UTSMode": refused("sharing the host's UTS namespace is " + YET),
    "UsernsMode": applied("keep-id[:uid=U,gid=G] (podman's): a nested user namespace keeping the user's ids "
                          "(engine/container_userns.py)", lambda mode: mode == "" or str(mode).startswith("keep-id"),
                          "an unprivileged engine has no host user namespace; every container runs in the "
                          "user's own (podman's keep-id is available)"),
    "ShmSize": applied(), "Sysctls": applied(),
    "Runtime": applied(ONE_RUNTIME, one_of(*RUNTIME_NAMES), ONE_RUNTIME),
    "Isolation": refused("Linux has only the default isolation", also=("default",)),
    "CpuShares": applied("linux.resources when cgroups are delegated, else refused at create"),
    "Memory": applied("linux.resources when cgroups are delegated, else refused at create"),
    "NanoCpus": applied("linux.resources when cgroups are delegated, else refused at create"),
    "CgroupParent": refused("rootless places containers in the user's delegated cgroup itself"),
    "BlkioWeight": applied("linux.resources when cgroups are delegated, else refused at create"),
    "BlkioWeightDevice": refused("per-device block IO weights are " + YET, shown=_first("Path")),
    "BlkioDeviceReadBps": refused("per-device block IO limits are " + YET, shown=_first("Path")),
    "BlkioDeviceWriteBps": refused("per-device block IO limits are " + YET, shown=_first("Path")),
    "BlkioDeviceReadIOps": refused("per-device block IO limits are " + YET, shown=_first("Path")),
    "BlkioDeviceWriteIOps": refused("per-device block IO limits are " + YET, shown=_first("Path")),
    "CpuPeriod": applied("linux.resources when cgroups are delegated, else refused at create"),
    "CpuQuota": applied("linux.resources when cgroups are delegated, else refused at create"),
    "CpuRealtimePeriod": refused("real-time CPU scheduling needs cgroup v1 and root"),
    "CpuRealtimeRuntime": refused("real-time CPU scheduling needs cgroup v1 and root"),
    "CpusetCpus": applied("linux.resources when cgroups are delegated, else refused at create"),
    "CpusetMems": applied("linux.resources when cgroups are delegated, else refused at create"),
    "Devices": applied("host device nodes the user can open, bound as podman does rootless (runtime/devices.py); "
                       "CDI names (vendor.com/class=name) through runtime/cdi.py",
                       lambda devices: all(_is_cdi_mapping(d) or _is_host_device(d) for d in devices or []),
                       "a device is /dev/PATH[:/CONTAINER/PATH][:PERMISSIONS of rwm] or a CDI name",
                       shown=_first("PathOnHost")),
    "DeviceCgroupRules": refused(NO_CGROUP_DEVICES + "; --device binds a device the user can open without one"),
    "DeviceRequests": applied("CDI devices (runtime/cdi.py); --gpus through the nvidia.com/gpu CDI spec",
                              lambda requests: all(_is_cdi_request(r) for r in requests or []),
                              "only CDI devices (Driver \"cdi\") and --gpus (all or device=IDs) are supported"),
    "KernelMemory": refused("kernel memory limits do not exist in cgroup v2"),
    "KernelMemoryTCP": refused("kernel memory limits do not exist in cgroup v2"),
    "MemoryReservation": applied("linux.resources when cgroups are delegated, else refused at create"),
    "MemorySwap": applied("linux.resources when cgroups are delegated, else refused at create"),
    "MemorySwappiness": refused("memory swappiness does not exist in cgroup v2", also=(-1,)),
    "OomKillDisable": refused("disabling the OOM killer does not exist in cgroup v2"),
    "PidsLimit": applied("linux.resources when cgroups are delegated, else refused at create"),
    "Ulimits": applied(), "CpuCount": refused(WINDOWS), "CpuPercent": refused(WINDOWS),
    "IOMaximumIOps": refused(WINDOWS), "IOMaximumBandwidth": refused(WINDOWS),
    "Mounts": applied(),
    "MaskedPaths": applied("replaces the default masked paths", _absolute_paths, "paths must be absolute"),
    "ReadonlyPaths": applied("replaces the default read-only paths", _absolute_paths, "paths must be absolute"),
    "Init": applied(),
}

ENDPOINT: Dict[str, Support] = {
    "IPAMConfig": applied("IPv4Address/IPv6Address: the endpoint's addresses on its veth"),
    "Links": applied("the alias in the linking container's /etc/hosts (engine/links.py)"),
    "Aliases": applied("names on the network"),
    "MacAddress": applied("set on the endpoint's veth (the default bridge's too); refused on host, none (endpoints.check_networks)"),
    "DriverOpts": applied("recorded and shown, as dockerd's bridge driver does; com.docker.network.endpoint.ifname "
                          "names the interface, ...sysctls is refused (engine/endpoints.py)"),
    "GwPriority": refused("a container has one gateway, its slirp4netns one"),
    "NetworkID": Support(IGNORED, OUTPUT), "EndpointID": Support(IGNORED, OUTPUT),
    "Gateway": Support(IGNORED, OUTPUT), "IPAddress": Support(IGNORED, OUTPUT),
    "IPPrefixLen": Support(IGNORED, OUTPUT), "IPv6Gateway": Support(IGNORED, OUTPUT),
    "GlobalIPv6Address": Support(IGNORED, OUTPUT), "GlobalIPv6PrefixLen": Support(IGNORED, OUTPUT),
    "DNSNames": Support(IGNORED, OUTPUT),
}

CREATE: Dict[str, Support] = {
    **CONFIG, "HostConfig": applied(),
    "NetworkingConfig": applied("the endpoint of HostConfig.NetworkMode; see check_endpoints"),
}

# docker update: the limits crun can change on a running container (and records for the next start);
# the rest of Resources is refused as at create, or because update does not change it.
UPDATE_LIMITS = ("CpuShares", "Memory", "NanoCpus", "BlkioWeight", "CpuPeriod", "CpuQuota", "CpusetCpus",
                 "CpusetMems", "MemoryReservation", "MemorySwap", "PidsLimit")
NOT_UPDATED = "not changed by docker update in rootless; recreate the container"


def _not_updated(name: str) -> Support:
    """A create-time refusal keeps its reason; what create applies, update refuses (it would not apply it).
    Only zero passes: a create entry's wider ``ok`` (CDI devices) does not carry over."""
    entry = HOST_CONFIG[name]
    why = entry.why if entry.kind == REFUSED else NOT_UPDATED
    return refused(why, also=(-1,) if name == "MemorySwappiness" else (), shown=entry.show)


UPDATE: Dict[str, Support] = {
    **{name: _not_updated(name) for name in (
        "CgroupParent", "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps", "CpuRealtimePeriod", "CpuRealtimeRuntime", "Devices", "DeviceCgroupRules",
        "DeviceRequests", "KernelMemory", "KernelMemoryTCP", "MemorySwappiness", "OomKillDisable", "Ulimits",
        "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth")},
    **{name: applied("crun update on a running container, recorded in HostConfig; refused where its "
                     "controller is not delegated") for name in UPDATE_LIMITS},
    "RestartPolicy": applied("recorded in HostConfig; the next exit follows it"),
}

MOUNT: Dict[str, Support] = {
    "Type": applied(), "Source": applied(), "Target": applied(), "ReadOnly": applied(),
    "Consistency": Support(IGNORED, "a macOS option; dockerd ignores it on Linux"),
    "BindOptions": applied(), "VolumeOptions": applied(), "TmpfsOptions": applied(),
    "ImageOptions": refused("image mounts are " + YET), "ClusterOptions": refused("cluster mounts need swarm mode"),
}
BIND_OPTIONS: Dict[str, Support] = {
    "Propagation": applied("a bind mount option, checked at start as moby does (engine/mount_sources.py): the "
                           "engine's namespace is rslave, so slave works where the host shares the source's "
                           "mount; shared is refused (no mount there is shared)",
                           one_of("", "private", "rprivate", "shared", "rshared", "slave", "rslave"),
                           "invalid propagation mode"),
    "NonRecursive": applied("bind instead of rbind"),
    "CreateMountpoint": refused("creating a missing bind source is " + YET),
    "ReadOnlyNonRecursive": refused("choosing how read-only applies to submounts is " + YET),
    "ReadOnlyForceRecursive": refused("choosing how read-only applies to submounts is " + YET),
}
VOLUME_OPTIONS: Dict[str, Support] = {
    "NoCopy": applied("a new volume is not filled from the image's directory (volumes/copyup.py)"),
    "Labels": applied("labels of the volume when this creates it"),
    "Subpath": applied("the volume's directory, opened confined and pinned for crun (engine/mount_sources.py)"),
    "DriverConfig": refused("driver options in a mount are not supported; make the volume first with "
                            "volume create --opt (tmpfs and bind volumes)", ok=_local_driver),
}
TMPFS_OPTIONS: Dict[str, Support] = {
    "SizeBytes": applied("size= of the tmpfs", lambda size: size >= 0, "a size can't be negative"), "Mode": applied("mode= of the tmpfs"),
    "Options": refused("extra tmpfs options are " + YET),
}

NETWORK_CREATE: Dict[str, Support] = {
    "Name": applied(), "CheckDuplicate": applied("network names are always unique"),
    "Driver": applied("bridge; others are refused"),
    "Scope": refused("rootless networks are local", also=("local",)),
    "EnableIPv4": applied("networks are IPv4", lambda v: v is None or v is True, "every network has IPv4"),
    "EnableIPv6": applied("an IPv6 subnet on the bridge and an address on each veth (no IPv6 uplink)"),
    "IPAM": applied(), "Internal": applied("no uplink: its containers reach only each other"),
    "Attachable": applied("every rootless network is attachable"),
    "Ingress": refused("ingress networks need swarm mode"),
    "ConfigOnly": refused("config-only networks are " + YET),
    "ConfigFrom": refused("config-only networks are " + YET),
    "Options": applied("recorded and shown by inspect"), "Labels": applied(),
}
IPAM: Dict[str, Support] = {
    "Driver": refused("only the default IPAM driver exists", also=("default",)),
    "Options": refused("the default IPAM driver has no options"),
    "Config": applied("one IPv4 and one IPv6 subnet per network", _one_ipam,
                      "a network has one IPv4 and one IPv6 subnet in rootless"),
}
IPAM_CONFIG: Dict[str, Support] = {
    "Subnet": applied(), "Gateway": applied(), "IPRange": applied("IPv4: dynamic addresses come from the range; refused on IPv6"),
    "AuxiliaryAddresses": refused("auxiliary addresses are " + YET),
}

TABLE: Dict[Type[types.WireStruct], Dict[str, Support]] = {
    types.ContainerConfig: CONFIG, types.ContainerCreate: CREATE, types.HostConfig: HOST_CONFIG,
    types.ContainerUpdate: UPDATE,
    types.HealthConfig: {
        "Test": applied(ok=_health_test, refusal='the test is [], ["NONE"], or "CMD"/"CMD-SHELL" and a command'),
        **{name: applied(ok=_health_duration, refusal=f"{name} in Healthcheck cannot be less than 1ms")
           for name in ("Interval", "Timeout", "StartPeriod", "StartInterval")},
        "Retries": applied(ok=lambda v: v >= 0, refusal="Retries in Healthcheck cannot be negative")},
    types.LogConfig: {"Type": applied(), "Config": applied()},
    types.RestartPolicy: {"Name": applied(), "MaximumRetryCount": applied()},
    types.PortBinding: {"HostIp": applied(), "HostPort": applied()},
    types.Ulimit: {"Name": applied(), "Hard": applied(), "Soft": applied()},
    types.DeviceMapping: {"PathOnHost": applied("the node bound"), "PathInContainer": applied("where it is bound"),
                          "CgroupPermissions": applied("r and w as the kernel enforces them on the node; "
                                                       "runtime/devices.py refuses what it would not")},
    types.WeightDevice: {"Path": within("HostConfig.BlkioWeightDevice"),
                         "Weight": within("HostConfig.BlkioWeightDevice")},
    types.ThrottleDevice: {"Path": within("HostConfig.BlkioDevice*"), "Rate": within("HostConfig.BlkioDevice*")},
    types.DeviceRequest: {name: within("HostConfig.DeviceRequests")
                          for name in ("Driver", "Count", "DeviceIDs", "Capabilities", "Options")},
    types.Mount: MOUNT, types.BindOptions: BIND_OPTIONS, types.VolumeOptions: VOLUME_OPTIONS,
    types.Driver: {"Name": within("VolumeOptions.DriverConfig"), "Options": within("VolumeOptions.DriverConfig")},
    types.ImageOptions: {"Subpath": within("Mount.ImageOptions")},
    types.TmpfsOptions: TMPFS_OPTIONS, types.Empty: {},
    types.NetworkingConfig: {"EndpointsConfig": applied("see check_endpoints")},
    types.EndpointSettings: ENDPOINT,
    types.EndpointIPAMConfig: {"IPv4Address": applied(), "IPv6Address": applied("--ip6 on an IPv6 network"),
                               "LinkLocalIPs": refused("link-local addresses are " + YET)},
    types.ExecCreate: {
        "User": applied(), "Privileged": applied(), "Tty": applied(), "ConsoleSize": applied(),
        "AttachStdin": applied(), "AttachStderr": applied(), "AttachStdout": applied(),
        "Detach": Support(IGNORED, "dockerd ignores it at exec create; exec start's Detach counts"),
        "DetachKeys": applied("ends a TTY exec's attach; the process runs on"), "Env": applied(), "WorkingDir": applied(),
        "Cmd": applied()},
    types.ExecStart: {"Detach": applied(), "Tty": applied("frames the output (stdcopy or raw), as dockerd"),
                      "ConsoleSize": Support(CLIENT, "the docker CLI resizes the exec's TTY right after start")},
    types.VolumeCreate: {"Name": applied(), "Driver": applied("local; others are refused"),
                         "DriverOpts": applied("type=tmpfs and type=none,o=bind mounted at first use; "
                                               "volumes/options.py refuses the rest"),
                         "Labels": applied(), "ClusterVolumeSpec": refused("cluster volumes need swarm mode")},
    types.NetworkCreate: NETWORK_CREATE, types.IPAM: IPAM, types.IPAMConfig: IPAM_CONFIG,
    types.ConfigReference: {"Network": within("NetworkCreate.ConfigFrom")},
    types.NetworkConnect: {"Container": applied(), "EndpointConfig": applied()},
    types.NetworkDisconnect: {"Container": applied(), "Force": applied()},
    types.AuthConfig: {"username": applied(), "password": applied(), "auth": applied(),
                       "email": Support(IGNORED, "deprecated; dockerd ignores it too"),
                       "serveraddress": applied(), "identitytoken": applied(),
                       "registrytoken": refused("registry tokens are " + YET)},
}


def refuse_unsupported(obj: types.WireStruct, path: str = "") -> None:
    """InvalidArgument (400) for the first field whose value rootless would not apply."""
    for name, entry in _rows(type(obj)):
        value = getattr(obj, name)
        if not entry.accepts(value):
            raise InvalidArgument(f"invalid argument: {types.at(path, name)}: {entry.show(value)}: {entry.why}",
                                  hint="drop the option; rootless refuses what it would not apply")
        if isinstance(value, (types.WireStruct, list, dict)):  # a scalar has nothing below it
            _descend(value, types.at(path, name))
    if isinstance(obj, types.ContainerCreate):
        check_endpoints(obj)


_ROWS: Dict[type, List[Tuple[str, Support]]] = {}


def _rows(cls: type) -> List[Tuple[str, Support]]:
    """cls's fields in schema order, each with its row of TABLE (KeyError: a field without one),
    looked up once per type rather than for each of a create body's ~100 values."""
    rows = _ROWS.get(cls)
    if rows is None:
        table = TABLE[cls]
        rows = [(item.name, table[item.name]) for item in dataclasses.fields(cls) if item.name != "fields_set"]
        _ROWS[cls] = rows
    return rows


def _descend(value: Any, where: str) -> None:
    if isinstance(value, types.WireStruct):
        refuse_unsupported(value, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, (types.WireStruct, list, dict)):
                _descend(item, f"{where}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (types.WireStruct, list, dict)):
                _descend(item, f"{where}[{json.dumps(key)}]")


def check_endpoints(create: types.ContainerCreate) -> None:
    """The endpoint of NetworkMode and (API 1.44) more user networks are applied at create;
    a second built-in network (bridge, host, none) beside NetworkMode is not."""
    mode = (create.HostConfig.NetworkMode if create.HostConfig else "") or "default"
    wanted = {mode} | ({"default", "bridge"} if mode in ("default", "bridge") else set())
    endpoints = create.NetworkingConfig.EndpointsConfig if create.NetworkingConfig else None
    for name in endpoints or {}:
        if name not in wanted and name in ("bridge", "default", "host", "none"):
            raise InvalidArgument(
                f"invalid argument: NetworkingConfig.EndpointsConfig[{json.dumps(name)}]: connecting the built-in "
                f"{name} network beside {mode} is " + YET,
                hint="create the container on that network, or on user networks only")


def decode_request(cls: Type[S], body: Any) -> S:
    """A request body typed (api/decode.py), then refused if it asks for what rootless would not apply."""
    obj = decode_body(cls, body)
    refuse_unsupported(obj)
    return obj
