"""A container's persistent record and the Docker API shapes built from it.

The one module that turns a create request (the typed api/types.py objects)
into the record and reads and writes the record (container.json). The record
stays docker-shaped JSON, so `docker inspect` shows it as it is and records
written by earlier versions load unchanged. Every other engine module reads
it through the typed reads of Container (ulimits, port_bindings(), dns,
mount_points(), endpoints(), ...), never by its docker keys: the docker shape
is this module's business (tests/unit/engine/test_record_reads.py holds to it).
"""
from __future__ import annotations

import copy
import dataclasses
import datetime
import logging
import os
import shlex
import time
from typing import Any, Dict, List, Optional, Tuple

from rootless.api import types
from rootless.config import Paths
from rootless.engine import health_config
from rootless.engine.log_drivers import checked_log_config as checked_log_config  # re-exported
from rootless.engine.log_drivers import log_max_files as log_max_files
from rootless.engine.log_drivers import log_max_size as log_max_size
from rootless.errors import InvalidArgument
from rootless.runtime.logs import parse_rfc3339_ns
from rootless.runtime.spec import Ulimit
from rootless.util import fs
from rootless.util.units import human_duration
from rootless.wire.command import create_env, merge_command

logger = logging.getLogger(__name__)

ZERO_TIME = "0001-01-01T00:00:00Z"
RECORD_FILE = "container.json"
PLAN_KEY = "RootlessPlan"  # the plan made at create (engine/container_plan.py); not in inspect
# The files the engine binds over /etc (container_spec.write_etc_files), and their names in
# the container's etc dir (Paths.etc_dir).
ETC_FILE_NAMES = {"/etc/hostname": "hostname", "/etc/hosts": "hosts", "/etc/resolv.conf": "resolv.conf"}
_ETC_PATH_KEYS = {"/etc/hostname": "HostnamePath", "/etc/hosts": "HostsPath", "/etc/resolv.conf": "ResolvConfPath"}
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def etc_files(etc_dir: str) -> Dict[str, str]:
    """The /etc file each engine file is bound over -> its path in etc_dir."""
    return {destination: os.path.join(etc_dir, name) for destination, name in ETC_FILE_NAMES.items()}


def etc_paths(etc_dir: str) -> Dict[str, str]:
    """inspect's HostnamePath, HostsPath and ResolvConfPath for the files in etc_dir."""
    return {_ETC_PATH_KEYS[destination]: path for destination, path in etc_files(etc_dir).items()}


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch; docker's zero time ("0001-...") and "" are 0."""
    if not text or text.startswith("0001-"):
        return 0.0
    return parse_rfc3339_ns(text) / 1e9


def wire_json(obj: types.WireStruct, leave_out: Tuple[str, ...] = ()) -> Dict[str, Any]:
    """The fields a request carried, as JSON values: how the record keeps what was asked."""
    sent = obj.fields_set
    return {name: _json_value(getattr(obj, name)) for name in _field_names(type(obj))
            if name in sent and name not in leave_out}


_FIELD_NAMES: Dict[type, Tuple[str, ...]] = {}
_ATOMS = (str, int, bool, float, type(None))


def _field_names(cls: type) -> Tuple[str, ...]:
    """A wire type's field names in schema order, looked up once (dataclasses.fields builds them each call)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _json_value(value: Any) -> Any:
    if type(value) in _ATOMS:  # most values: nothing to convert
        return value
    if isinstance(value, types.WireStruct):
        return wire_json(value)
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    return value


def working_dir_error(workdir: str) -> str:
    """docker's words (daemon/container.go verifyContainerSettings) for a relative working directory."""
    return f"the working directory '{workdir}' is invalid, it needs to be an absolute path"


def merge_config(image_config: Dict[str, Any], request: types.ContainerConfig, container_id: str) -> Dict[str, Any]:
    """The record's Config: the request's fields over the image's, by docker's rules."""
    image = image_config or {}
    config = wire_json(request, leave_out=("HostConfig", "NetworkingConfig"))  # recorded apart, converted once
    config["Entrypoint"], config["Cmd"] = merge_command(request.Entrypoint, request.Cmd,
                                                        image.get("Entrypoint"), image.get("Cmd"))
    config["Env"] = create_env(image.get("Env") or [], request.Env or [])
    config["WorkingDir"] = request.WorkingDir or image.get("WorkingDir") or ""
    if config["WorkingDir"] and not str(config["WorkingDir"]).startswith("/"):
        raise InvalidArgument(working_dir_error(str(config["WorkingDir"])))  # before anything touches disk
    config["User"] = request.User or image.get("User") or ""
    config["Labels"] = {**(image.get("Labels") or {}), **(request.Labels or {})}
    config["ExposedPorts"] = {**(image.get("ExposedPorts") or {}), **wire_json_map(request.ExposedPorts)}
    config["Volumes"] = {**(image.get("Volumes") or {}), **wire_json_map(request.Volumes)} or None
    config["StopSignal"] = request.StopSignal or image.get("StopSignal") or ""
    config["Hostname"] = request.Hostname or container_id[:12]
    config["Domainname"] = request.Domainname
    for key in ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce"):
        config[key] = bool(getattr(request, key))
    config["Healthcheck"] = health_config.merge(image.get("Healthcheck"), config.get("Healthcheck"))
    return config


def wire_json_map(values: Optional[Dict[str, types.Empty]]) -> Dict[str, Any]:
    """ExposedPorts / Volumes (Go's map of struct{}): the keys, each with {}."""
    return {key: {} for key in values or {}}


def _optional_strings(value: Any) -> Optional[List[str]]:
    """null keeps the defaults; a list, also an empty one, replaces them (dockerd's MaskedPaths)."""
    return None if value is None else [str(item) for item in value]


def command_argv(config: Dict[str, Any]) -> List[str]:
    return list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])


@dataclasses.dataclass(frozen=True)
class PortBinding:
    """One HostConfig.PortBindings entry (or a PublishAllPorts one): "80/tcp" to a host address."""

    port: str  # the container port as docker keys it: "80/tcp", "53/udp", "8080"
    host_ip: str
    host_port: str  # "", "8080" or a range "8080-8090"


@dataclasses.dataclass(frozen=True)
class ApiMount:
    """One HostConfig.Mounts entry (--mount) with the options rootless applies."""

    type: str  # bind | volume | tmpfs (docker's default: volume)
    target: str
    source: str
    read_only: bool
    propagation: str = ""
    non_recursive: bool = False
    volume_labels: Tuple[Tuple[str, str], ...] = ()
    tmpfs_size: int = 0
    tmpfs_mode: int = 0
    subpath: str = ""  # VolumeOptions.Subpath: a directory inside the volume (engine/mount_sources.py)


@dataclasses.dataclass(frozen=True)
class DeviceRequest:
    """One HostConfig.DeviceRequests entry (--gpus, CDI --device)."""

    driver: str
    count: Optional[int]
    device_ids: Tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Resources:
    """The cgroup limits of HostConfig; None (or "") where not asked."""

    memory: Optional[int] = None
    memory_swap: Optional[int] = None
    nano_cpus: Optional[int] = None
    pids_limit: Optional[int] = None  # only a positive limit; 0 and -1 are unlimited
    memory_reservation: Optional[int] = None
    cpu_shares: Optional[int] = None
    cpu_quota: Optional[int] = None
    cpu_period: Optional[int] = None
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    blkio_weight: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class ProcessOptions:
    """The process and rootfs options of HostConfig, by their SpecOptions names."""

    group_add: List[str]
    privileged: bool
    cap_add: List[str]
    cap_drop: List[str]
    read_only: bool
    init: bool
    security_opt: List[str]
    shm_size: Optional[int]
    sysctls: Dict[str, str]
    oom_score_adj: Optional[int]
    masked_paths: Optional[List[str]]  # None keeps the defaults
    readonly_paths: Optional[List[str]]


@dataclasses.dataclass(frozen=True)
class MountPoint:
    """One recorded MountPoint (the record's Mounts): what create chose for a destination."""

    destination: str
    source: str
    name: str  # the volume's name; "" for a bind
    type: str = ""  # bind | volume
    read_only: bool = False


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One recorded attachment (NetworkSettings.Networks[name], docker's EndpointSettings)."""

    network_id: str
    endpoint_id: str
    gateway: str
    ip_address: str
    prefix_len: int
    aliases: Optional[List[str]]  # None as docker shows no aliases
    # The rest of docker's EndpointSettings, as recorded (engine/endpoints.py settings_of).
    ipam_config: Optional[Dict[str, Any]] = None
    links: Optional[List[str]] = None
    mac_address: str = ""
    configured_mac: str = ""
    driver_opts: Optional[Dict[str, str]] = None
    ipv6_gateway: str = ""
    ipv6_address: str = ""
    ipv6_prefix_len: int = 0


LIMIT_KEYS = ("Memory", "MemorySwap", "NanoCpus", "CpuQuota", "CpuPeriod", "CpuShares", "PidsLimit",
              "CpusetCpus", "CpusetMems", "BlkioWeight", "MemoryReservation")


def _api_mount(spec: Dict[str, Any]) -> ApiMount:
    bind_options = spec.get("BindOptions") or {}
    tmpfs_options = spec.get("TmpfsOptions") or {}
    labels = (spec.get("VolumeOptions") or {}).get("Labels") or {}
    return ApiMount(str(spec.get("Type", "volume")), str(spec["Target"]), str(spec.get("Source") or ""),
                    bool(spec.get("ReadOnly")), str(bind_options.get("Propagation") or ""),
                    bool(bind_options.get("NonRecursive")),
                    tuple(sorted((str(k), str(v)) for k, v in labels.items())),
                    int(tmpfs_options.get("SizeBytes") or 0), int(tmpfs_options.get("Mode") or 0),
                    str((spec.get("VolumeOptions") or {}).get("Subpath") or ""))


def _strings(value: Any) -> List[str]:
    return [str(item) for item in value or []]


class Container:
    """The persistent record of one container (container.json)."""

    def __init__(self, paths: Paths, data: Dict[str, Any]) -> None:
        self.paths = paths
        self.data = data

    # -- identity ---------------------------------------------------------
    @property
    def id(self) -> str:
        return str(self.data["Id"])

    @property
    def name(self) -> str:
        return str(self.data["Name"]).lstrip("/")

    @name.setter
    def name(self, value: str) -> None:
        self.data["Name"] = "/" + value.lstrip("/")

    @property
    def dir(self) -> str:
        return self.paths.container_dir(self.id)

    @property
    def etc_dir(self) -> str:
        """Where its hostname, hosts and resolv.conf are written at each start (Paths.etc_dir)."""
        return self.paths.etc_dir(self.id)

    @property
    def config(self) -> Dict[str, Any]:
        return self.data["Config"]  # type: ignore[no-any-return]

    @property
    def host_config(self) -> Dict[str, Any]:
        return self.data["HostConfig"]  # type: ignore[no-any-return]

    @property
    def state(self) -> Dict[str, Any]:
        return self.data["State"]  # type: ignore[no-any-return]

    @property
    def status(self) -> str:
        return str(self.state["Status"])

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused")  # restarting: no process until the policy starts it

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))

    @property
    def log_path(self) -> str:
        return os.path.join(self.dir, f"{self.id}-json.log")

    # -- typed reads of the record: the state machine reads these, not JSON keys --
    @property
    def created(self) -> str:
        return str(self.data["Created"])

    @property
    def image_id(self) -> str:
        return str(self.data.get("Image") or "")

    @property
    def image_ref(self) -> str:
        """The image as the request named it (Config.Image)."""
        return str(self.config.get("Image") or "")

    @property
    def labels(self) -> Dict[str, str]:
        return {str(k): str(v) for k, v in (self.config.get("Labels") or {}).items()}

    @property
    def network_mode(self) -> str:
        return str(self.host_config.get("NetworkMode") or "bridge")

    @property
    def auto_remove(self) -> bool:
        return bool(self.host_config.get("AutoRemove"))

    @property
    def restart_policy(self) -> Tuple[str, int]:
        """(name, maximum retry count) of HostConfig.RestartPolicy; "no" by default."""
        policy = self.host_config.get("RestartPolicy") or {}
        return str(policy.get("Name") or "no"), int(policy.get("MaximumRetryCount") or 0)

    @property
    def restart_count(self) -> int:
        return int(self.data.get("RestartCount") or 0)

    @restart_count.setter
    def restart_count(self, value: int) -> None:
        self.data["RestartCount"] = value

    @property
    def stop_signal(self) -> str:
        return str(self.config.get("StopSignal") or "")

    @property
    def stop_timeout(self) -> Optional[int]:
        value = self.config.get("StopTimeout")
        return None if value is None else int(value)

    @property
    def open_stdin(self) -> bool:
        return bool(self.config.get("OpenStdin"))

    @property
    def stdin_once(self) -> bool:
        return bool(self.config.get("StdinOnce"))

    @property
    def log_options(self) -> Dict[str, str]:
        """HostConfig.LogConfig.Config (json-file's max-size, max-file, ...)."""
        return dict((self.host_config.get("LogConfig") or {}).get("Config") or {})

    @property
    def log_driver(self) -> str:
        """HostConfig.LogConfig.Type: json-file, local, journald or none."""
        return str((self.host_config.get("LogConfig") or {}).get("Type") or "json-file")

    @property
    def exit_code(self) -> int:
        return int(self.state.get("ExitCode") or 0)

    @property
    def error(self) -> str:
        return str(self.state.get("Error") or "")

    @property
    def pid(self) -> int:
        """State.Pid: the container's init on the host; 0 when it has none."""
        return int(self.state.get("Pid") or 0)

    @property
    def state_running(self) -> bool:
        """State.Running as docker sets it: also true while restarting (set_state)."""
        return bool(self.state.get("Running"))

    @property
    def started_at(self) -> str:
        return str(self.state.get("StartedAt") or ZERO_TIME)

    @property
    def finished_at(self) -> str:
        return str(self.state.get("FinishedAt") or "")

    @property
    def health(self) -> Optional[Dict[str, Any]]:
        """State.Health (engine/health_config.py reads and makes it); None without a healthcheck run."""
        value = self.state.get("Health")
        return dict(value) if isinstance(value, dict) else None

    @health.setter
    def health(self, value: Optional[Dict[str, Any]]) -> None:
        self.state["Health"] = value

    def health_probe(self) -> Optional[health_config.Probe]:
        """The probe of Config.Healthcheck (None without one)."""
        return health_config.probe_of(self.config)

    @property
    def ever_started(self) -> bool:
        return not str(self.state.get("StartedAt") or ZERO_TIME).startswith("0001")

    @property
    def mounts(self) -> List[Dict[str, Any]]:
        """docker's MountPoints, chosen at create (volumes made then are reused by every start)."""
        return list(self.data.get("Mounts") or [])

    @mounts.setter
    def mounts(self, made: List[Dict[str, Any]]) -> None:
        self.data["Mounts"] = made  # the caller's list itself: a create fills it as volumes are made

    def mount_points(self) -> List[MountPoint]:
        return [MountPoint(str(m.get("Destination") or ""), str(m.get("Source") or ""), str(m.get("Name") or ""),
                           str(m.get("Type") or ""), not m.get("RW", True))
                for m in self.mounts]

    @property
    def exec_ids(self) -> List[str]:
        return _strings(self.data.get("ExecIDs"))

    @exec_ids.setter
    def exec_ids(self, ids: List[str]) -> None:
        self.data["ExecIDs"] = list(ids) or None  # docker's null for none

    # -- the engine's own bookkeeping (Internal: never in inspect) --
    def internal(self, key: str) -> Any:
        """One entry of the record's Internal object: the monitor's ports, wired user networks, ..."""
        return (self.data.get("Internal") or {}).get(key)

    def set_internal(self, key: str, value: Any) -> None:
        self.data["Internal"] = {**(self.data.get("Internal") or {}), key: value}

    # -- what the spec is built from (engine/container_spec.py reads only these) --
    @property
    def mac_address(self) -> str:
        """Config.MacAddress: API < 1.44's --mac-address, for the NetworkMode endpoint."""
        return str(self.config.get("MacAddress") or "")

    @property
    def hostname(self) -> str:
        return str(self.config.get("Hostname") or self.id[:12])

    @property
    def domainname(self) -> str:
        return str(self.config.get("Domainname") or "")

    @property
    def argv(self) -> Tuple[Optional[List[str]], Optional[List[str]]]:
        """(Entrypoint, Cmd) as recorded; None where unset."""
        return self.config.get("Entrypoint"), self.config.get("Cmd")

    @property
    def env(self) -> List[str]:
        return _strings(self.config.get("Env"))

    @property
    def working_dir(self) -> str:
        return str(self.config.get("WorkingDir") or "")

    @property
    def user(self) -> str:
        return str(self.config.get("User") or "")

    @property
    def network_disabled(self) -> bool:
        return bool(self.config.get("NetworkDisabled"))

    @property
    def exposed_ports(self) -> List[str]:
        return [str(port) for port in self.config.get("ExposedPorts") or {}]

    @property
    def image_volumes(self) -> List[str]:
        """Config.Volumes: the destinations an anonymous volume goes to unless something else is there."""
        return [str(destination) for destination in self.config.get("Volumes") or {}]

    def port_bindings(self) -> List[PortBinding]:
        """PortBindings (+ PublishAllPorts over ExposedPorts), sorted by port; an empty list binds any."""
        bindings: Dict[str, Any] = dict(self.host_config.get("PortBindings") or {})
        if self.host_config.get("PublishAllPorts"):
            for port in self.exposed_ports:
                bindings.setdefault(port, [{"HostIp": "", "HostPort": ""}])
        return [PortBinding(str(port), str((entry or {}).get("HostIp") or ""), str((entry or {}).get("HostPort") or ""))
                for port, entries in sorted(bindings.items())
                for entry in entries or [{"HostIp": "", "HostPort": ""}]]

    @property
    def links(self) -> List[str]:
        """HostConfig.Links: legacy links, "/child:/parent/alias" once recorded (engine/links.py)."""
        return _strings(self.host_config.get("Links"))

    @property
    def extra_hosts(self) -> List[str]:
        return _strings(self.host_config.get("ExtraHosts"))

    @property
    def dns(self) -> Tuple[List[str], List[str], List[str]]:
        """(--dns servers, --dns-search domains, --dns-option options)."""
        hc = self.host_config
        return _strings(hc.get("Dns")), _strings(hc.get("DnsSearch")), _strings(hc.get("DnsOptions"))

    @property
    def binds(self) -> List[str]:
        """HostConfig.Binds (-v) as given: "src:dst[:opts]" or "dst[:opts]"."""
        return _strings(self.host_config.get("Binds"))

    @property
    def api_mounts(self) -> List[ApiMount]:
        return [_api_mount(spec) for spec in self.host_config.get("Mounts") or []]

    @property
    def no_copy_mounts(self) -> List[bool]:
        """VolumeOptions.NoCopy of each HostConfig.Mounts entry (--mount ...,volume-nocopy), in order."""
        return [bool(((spec or {}).get("VolumeOptions") or {}).get("NoCopy"))
                for spec in self.host_config.get("Mounts") or []]

    @property
    def volumes_from(self) -> List[str]:
        """HostConfig.VolumesFrom: "container[:ro|rw]" entries."""
        return _strings(self.host_config.get("VolumesFrom"))

    @property
    def userns_mode(self) -> str:
        """HostConfig.UsernsMode: "" (container root = the user) or podman's "keep-id[:uid=U,gid=G]"."""
        return str(self.host_config.get("UsernsMode") or "")

    @property
    def tmpfs(self) -> Dict[str, str]:
        """HostConfig.Tmpfs (--tmpfs): destination -> docker's option string."""
        return {str(dest): str(opts or "") for dest, opts in (self.host_config.get("Tmpfs") or {}).items()}

    @property
    def ulimits(self) -> List[Ulimit]:
        return [Ulimit(u["Name"], int(u["Soft"]), int(u["Hard"])) for u in self.host_config.get("Ulimits") or []]

    def limit_values(self) -> Dict[str, Any]:
        """The asked cgroup limits by their HostConfig field (the names host/cgroups.FIELD_CONTROLLERS uses)."""
        return {key: self.host_config.get(key) for key in LIMIT_KEYS}

    @property
    def resources(self) -> Resources:
        hc = self.host_config
        return Resources(hc.get("Memory") or None, hc.get("MemorySwap") or None, hc.get("NanoCpus") or None,
                         hc.get("PidsLimit") if (hc.get("PidsLimit") or 0) > 0 else None,
                         hc.get("MemoryReservation") or None, hc.get("CpuShares") or None,
                         hc.get("CpuQuota") or None, hc.get("CpuPeriod") or None, hc.get("CpusetCpus") or "",
                         hc.get("CpusetMems") or "", hc.get("BlkioWeight") or None)

    @property
    def process_options(self) -> ProcessOptions:
        hc = self.host_config
        return ProcessOptions(_strings(hc.get("GroupAdd")), bool(hc.get("Privileged")), _strings(hc.get("CapAdd")),
                              _strings(hc.get("CapDrop")), bool(hc.get("ReadonlyRootfs")), bool(hc.get("Init")),
                              _strings(hc.get("SecurityOpt")), hc.get("ShmSize") or None,
                              dict(hc.get("Sysctls") or {}), hc.get("OomScoreAdj") or None,
                              _optional_strings(hc.get("MaskedPaths")), _optional_strings(hc.get("ReadonlyPaths")))

    @property
    def annotations(self) -> Dict[str, str]:
        """HostConfig.Annotations (--annotation)."""
        return {str(k): str(v) for k, v in (self.host_config.get("Annotations") or {}).items()}

    @property
    def device_paths(self) -> List[str]:
        """HostConfig.Devices' PathOnHost (a CDI name from older clients)."""
        return [str(device.get("PathOnHost") or "") for device in self.host_config.get("Devices") or []]

    @property
    def pid_mode(self) -> str:
        return str(self.host_config.get("PidMode") or "")

    @property
    def ipc_mode(self) -> str:
        return str(self.host_config.get("IpcMode") or "")

    @property
    def shm_size(self) -> Optional[int]:
        return self.host_config.get("ShmSize") or None

    @property
    def host_devices(self) -> List[Tuple[str, str, str]]:
        """HostConfig.Devices as (PathOnHost, PathInContainer, CgroupPermissions), CDI names included."""
        return [(str(d.get("PathOnHost") or ""), str(d.get("PathInContainer") or ""),
                 str(d.get("CgroupPermissions") or "")) for d in self.host_config.get("Devices") or []]

    @property
    def device_requests(self) -> List[DeviceRequest]:
        return [DeviceRequest(str(r.get("Driver") or ""), r.get("Count"), tuple(_strings(r.get("DeviceIDs"))))
                for r in self.host_config.get("DeviceRequests") or []]

    # -- network attachments (NetworkSettings.Networks; the plumbing reads them) --
    def attachments(self) -> Dict[str, Dict[str, Any]]:
        """Network name -> its recorded EndpointSettings; a record from before has its NetworkMode."""
        recorded = (self.data.get("NetworkSettings") or {}).get("Networks")
        if isinstance(recorded, dict):
            return dict(recorded)
        mode = self.host_config.get("NetworkMode") or "bridge"
        return {"bridge" if mode == "default" else mode: {}}

    def endpoints(self) -> Dict[str, Endpoint]:
        """attachments(), typed."""
        return {name: Endpoint(str(e.get("NetworkID") or ""), str(e.get("EndpointID") or ""),
                               str(e.get("Gateway") or ""), str(e.get("IPAddress") or ""),
                               int(e.get("IPPrefixLen") or 0), _optional_strings(e.get("Aliases")),
                               dict(e["IPAMConfig"]) if e.get("IPAMConfig") else None,
                               _optional_strings(e.get("Links")), str(e.get("MacAddress") or ""),
                               str(e.get("ConfiguredMacAddress") or ""),
                               {str(k): str(v) for k, v in e["DriverOpts"].items()} if e.get("DriverOpts") else None,
                               str(e.get("IPv6Gateway") or ""), str(e.get("GlobalIPv6Address") or ""),
                               int(e.get("GlobalIPv6PrefixLen") or 0))
                for name, e in self.attachments().items()}

    def set_attachment(self, network: str, endpoint: Dict[str, Any]) -> None:
        networks = self.attachments()
        networks[network] = dict(endpoint)
        self.data["NetworkSettings"] = {"Networks": networks}

    def drop_attachment(self, network: str) -> None:
        networks = self.attachments()
        networks.pop(network, None)
        self.data["NetworkSettings"] = {"Networks": networks}

    # -- persistence --------------------------------------------------------
    def save(self) -> None:
        # A --rm container's record need not outlive a crash (it is removed when it stops):
        # no fsync for it, 2-3 fewer pairs on every `run --rm` (bench/README.md). After a
        # power cut such a record may be empty; load() then skips it.
        fs.atomic_write_json(os.path.join(self.dir, RECORD_FILE), self.data, 0o600, durable=not self.auto_remove)

    @classmethod
    def load(cls, paths: Paths, container_id: str) -> Optional["Container"]:
        path = os.path.join(paths.container_dir(container_id), RECORD_FILE)
        try:
            data = fs.read_json(path)
        except ValueError:  # not whole: only a record saved without fsync (AutoRemove) after a power cut
            logger.warning("skipping container %s: its record %s is not whole JSON", container_id, path)
            return None
        return cls(paths, data) if isinstance(data, dict) and data else None

    def set_state(self, status: str, **fields: Any) -> None:
        self.state.update(fields)
        self.state["Status"] = status
        self.state["Running"] = status in ("running", "paused", "restarting")
        self.state["Paused"] = status == "paused"
        self.state["Restarting"] = status == "restarting"
        self.state["Dead"] = status == "dead"
        if status not in ("running", "paused"):
            self.state["Pid"] = 0

    # -- API shapes ---------------------------------------------------------
    def status_text(self) -> str:
        """Docker's human Status column: "Up 3 seconds", "Exited (3) 2 seconds ago"."""
        st = self.state
        if st["Status"] == "running":
            up = human_duration(time.time() - parse_rfc3339(st['StartedAt']))
            return f"Up {up}{health_config.status_suffix(st)}"
        if st["Status"] == "paused":
            return f"Up {human_duration(time.time() - parse_rfc3339(st['StartedAt']))} (Paused)"
        if st["Status"] == "restarting":
            return f"Restarting ({st['ExitCode']}) {human_duration(time.time() - parse_rfc3339(st['FinishedAt']))} ago"
        if st["Status"] == "exited":
            ago = human_duration(time.time() - parse_rfc3339(st["FinishedAt"]))
            return f"Exited ({st['ExitCode']}) {ago} ago"
        if st["Status"] == "removing":
            return "Removal In Progress"
        if st["Status"] == "dead":
            return "Dead"
        return "Created"

    def command_text(self) -> str:
        argv = command_argv(self.config)
        return " ".join(shlex.quote(a) if (" " in a or not a) else a for a in argv)

    def inspect(self, ports: Dict[str, Any], networks: Dict[str, Any], runtime_name: str = "") -> Dict[str, Any]:
        data = copy.deepcopy(self.data)
        data["Name"] = "/" + self.name
        data.update(etc_paths(self.etc_dir))  # a record an older daemon made names its container dir
        if isinstance(data.get("HostConfig"), dict) and not data["HostConfig"].get("Runtime"):
            # dockerd always names the runtime (a key of /info's Runtimes); ours is the one in use.
            data["HostConfig"]["Runtime"] = runtime_name
        data["NetworkSettings"] = {
            "Bridge": "", "SandboxID": "", "SandboxKey": "", "HairpinMode": False,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "Ports": ports if self.running else {},
            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
            "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
            "Networks": networks,
        }
        for key in ("Gateway", "IPAddress", "IPPrefixLen", "MacAddress"):
            first = next(iter(networks.values()), None)
            if first and self.running:
                data["NetworkSettings"][key] = first.get(key, data["NetworkSettings"][key])
        data.pop("Internal", None)
        data.pop(PLAN_KEY, None)
        return data

    def summary(self, ports: List[Dict[str, Any]], networks: Dict[str, Any]) -> Dict[str, Any]:
        return {
            "Id": self.id, "Names": ["/" + self.name], "Image": self.config.get("Image", ""),
            "ImageID": self.data.get("Image", ""), "Command": self.command_text(),
            "Created": int(parse_rfc3339(self.data["Created"])), "Ports": ports,
            "Labels": self.config.get("Labels") or {}, "State": self.status, "Status": self.status_text(),
            "HostConfig": {"NetworkMode": self.host_config.get("NetworkMode", "bridge")},
            "NetworkSettings": {"Networks": networks}, "Mounts": self.data.get("Mounts", []),
        }


def new_record(container_id: str, name: str, request: types.ContainerCreate, image_id: str,
               image_config: Dict[str, Any], driver: str, paths: Paths) -> Dict[str, Any]:
    """The record of a new container, docker's inspect shape, from the typed request."""
    config = merge_config(image_config, request, container_id)
    config["Image"] = request.Image
    argv = command_argv(config)
    if not argv:
        raise InvalidArgument("no command specified", hint="give a command or set an entrypoint")  # moby's words
    directory = paths.container_dir(container_id)
    return {
        "Id": container_id, "Created": now_rfc3339(), "Path": argv[0], "Args": argv[1:], "Name": "/" + name,
        "Image": image_id, "RestartCount": 0,
        "Driver": driver, "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "State": {"Status": "created", "Running": False, "Paused": False, "Restarting": False,
                  "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
                  "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME},
        **etc_paths(paths.etc_dir(container_id)),
        "LogPath": os.path.join(directory, f"{container_id}-json.log"),
        "ExecIDs": None, "HostConfig": host_config_record(request.HostConfig or types.HostConfig()),
        "Config": config, "NetworkingConfig": wire_json(request.NetworkingConfig or types.NetworkingConfig()),
        "Mounts": [],
        "GraphDriver": {"Name": driver, "Data": {"UpperDir": os.path.join(directory, "rootfs", "upper"),
                                                  "MergedDir": os.path.join(directory, "rootfs", "merged")}},
        "SizeRw": None, "SizeRootFs": None,
    }


def host_config_record(host_config: types.HostConfig) -> Dict[str, Any]:
    """HostConfig as recorded: what was asked, with docker's defaults for the network,
    the restart policy and the log driver."""
    record = wire_json(host_config)
    record["NetworkMode"] = network_mode(host_config)
    if not host_config.RestartPolicy.Name:
        record["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": 0}
    record["LogConfig"] = checked_log_config(wire_json(host_config.LogConfig))
    return record


def network_mode(host_config: types.HostConfig) -> str:
    """HostConfig.NetworkMode with docker's default: "" and "default" are the bridge."""
    return "bridge" if host_config.NetworkMode in ("", "default") else host_config.NetworkMode
