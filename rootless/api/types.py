"""Docker Engine API request bodies as typed, frozen dataclasses (the wire schema).

Field names and types are moby's Go structs (api/types/container, network,
volume; swagger v1.44, fields up to 1.50 that CLI 28 sends), so a body the
docker CLI, docker-py or compose sends decodes as dockerd would decode it, and
a body dockerd would refuse ("json: cannot unmarshal number into Go struct
field Config.Cmd of type string") is refused here with the field's path. This
is podman's specgen idea: api/decode.py turns the JSON into these objects once
at the API edge; nothing that failed here reaches the engine or the store.

Conventions (issue 8): a Go pointer, slice or map is ``Optional`` (null is
nil); a Go string/bool/int/struct takes its zero value from null, as Go does.
Each class may add ``check`` for the rules dockerd applies right after
decoding (restart policy, port specs, mount types, names, label sizes). Only
stdlib and rootless.errors here: the client may share these types.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Annotated, Dict, FrozenSet, List, Mapping, Optional, Tuple

from rootless.errors import InvalidArgument


@dataclass(frozen=True)
class GoInt:
    """Which Go integer type a field has: its name and range."""

    name: str
    low: int
    high: int


@dataclass(frozen=True)
class GoArray:
    """A Go fixed-size array ([2]uint): shorter JSON arrays are zero-padded, longer cut, as Go does."""

    length: int


STRSLICE = "strslice"  # moby's strslice.StrSlice: a JSON string or an array of strings

INT64 = GoInt("int64", -(1 << 63), (1 << 63) - 1)
Int = Annotated[int, INT64]  # Go int is 64 bits on every platform we run on
UInt = Annotated[int, GoInt("uint64", 0, (1 << 64) - 1)]
UInt16 = Annotated[int, GoInt("uint16", 0, (1 << 16) - 1)]
UInt32 = Annotated[int, GoInt("uint32", 0, (1 << 32) - 1)]
StrSlice = Annotated[Optional[List[str]], STRSLICE]
ConsoleSize = Annotated[List[UInt], GoArray(2)]
StrMap = Dict[str, str]

# Limits dockerd does not have, but a store and `docker ps` need: a name is a
# directory name for volumes (NAME_MAX), labels are copied into every record,
# event and OCI annotation (Kubernetes caps annotations at 256 KiB in total).
MAX_NAME = 255
MAX_LABELS = 1024
MAX_LABEL_KEY = 1024
MAX_LABELS_SIZE = 256 * 1024
VOLUME_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
NETWORK_NAME_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_PORT_RE = re.compile(r"([0-9]{1,5})(?:/(tcp|udp|sctp))?")
_HOST_PORT_RE = re.compile(r"([0-9]{1,5})(?:-([0-9]{1,5}))?")
RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")
MOUNT_TYPES = ("bind", "volume", "tmpfs")  # dockerd refuses a missing Type too
DOCKER_MOUNT_TYPES = ("npipe", "cluster", "image")


@dataclass(frozen=True)
class WireStruct:
    """Base of every decoded body: which fields the request actually carried.

    The engine still reads dicts (issue 8 moves it to these types); to_wire
    gives it back only the fields that were sent, so its defaults keep working.
    """

    fields_set: FrozenSet[str] = field(default=frozenset(), repr=False, compare=False)

    def check(self, path: str) -> None:
        """Rules beyond types that dockerd applies at create (none by default)."""


def at(path: str, name: str) -> str:
    """A field's path for messages: HostConfig.RestartPolicy.Name."""
    return f"{path}.{name}" if path else name


def short(text: str, limit: int = 64) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# -- checks shared by several bodies ----------------------------------------------
def check_labels(labels: Optional[Mapping[str, str]], path: str) -> None:
    """Bounded labels (count, key length, total size); types were checked by the decoder."""
    if not labels:
        return
    if len(labels) > MAX_LABELS:
        raise InvalidArgument(f"invalid argument: {path}: {len(labels)} labels, at most {MAX_LABELS} are allowed")
    total = 0
    for key, value in labels.items():
        if not key or len(key) > MAX_LABEL_KEY:
            raise InvalidArgument(f"invalid argument: {path}: label key {short(key)!r}: "
                                  f"must be 1 to {MAX_LABEL_KEY} characters")
        total += len(key) + len(value)
    if total > MAX_LABELS_SIZE:
        raise InvalidArgument(f"invalid argument: {path}: labels are {total} characters in total, "
                              f"at most {MAX_LABELS_SIZE} are allowed")


def check_volume_name(name: str, path: str = "Name") -> None:
    """docker's local volume names; the message is dockerd's."""
    if len(name) > MAX_NAME or not VOLUME_NAME_RE.fullmatch(name):
        raise InvalidArgument(
            f'create {short(name)!r}: {path}: includes invalid characters for a local volume name, '
            'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed'
            + (f" (and at most {MAX_NAME} characters)" if len(name) > MAX_NAME else ""),
            hint="if you meant a host directory, give an absolute path")


def check_network_name(name: str) -> None:
    """moby 28 takes any network name that is not blank ("my net", "a/b", "ü"): libnetwork
    NewNetwork's only check. Control characters are refused too: they would corrupt
    `network ls` tables and log lines."""
    if not name.strip():
        raise InvalidArgument("invalid name: name is empty")
    if NETWORK_NAME_CONTROL_RE.search(name):
        raise InvalidArgument(f"create network: invalid name {short(name)!r}: control characters are not allowed")


def check_subpath(subpath: str, bad: str, anonymous: bool) -> None:
    """moby's create-time rules for VolumeOptions.Subpath (volume/mounts/linux_parser.go)."""
    if anonymous:
        raise InvalidArgument(bad + "must not set Subpath when using anonymous volumes")
    normal = posixpath.normpath(subpath)  # Go's filepath.IsLocal: relative, and not climbing out once cleaned
    if subpath.startswith("/") or normal == ".." or normal.startswith("../"):
        raise InvalidArgument(bad + "subpath must be a relative path within the volume")


def check_port_key(key: str, path: str) -> None:
    """"8080", "8080/tcp": dockerd's nat.ParsePort on an exposed or bound container port."""
    match = _PORT_RE.fullmatch(key)
    if not match or int(match.group(1)) > 65535:
        raise InvalidArgument(f"invalid port specification: {key!r} (in {path})")


def check_host_port(value: str, path: str) -> None:
    """"", "8080", "8000-8010": dockerd's nat.ParsePortRange on HostPort."""
    if not value:
        return
    match = _HOST_PORT_RE.fullmatch(value)
    if match:
        start, end = int(match.group(1)), int(match.group(2) or match.group(1))
        if start <= end <= 65535:
            return
    raise InvalidArgument(f"invalid port specification: {value!r} (in {path})")


def bind_volume_source(spec: str) -> Optional[str]:
    """The named volume a Binds entry ("src:dst[:opts]") uses, None for a host path."""
    source = spec.split(":", 1)[0] if ":" in spec else ""
    if not source or source.startswith("/") or source.startswith("."):
        return None
    return source


# -- Config (api/types/container/config.go) ----------------------------------------
@dataclass(frozen=True)
class HealthConfig(WireStruct):
    Test: Optional[List[str]] = None
    Interval: Int = 0  # durations are nanoseconds (Go time.Duration)
    Timeout: Int = 0
    StartPeriod: Int = 0
    StartInterval: Int = 0
    Retries: Int = 0


@dataclass(frozen=True)
class Empty(WireStruct):
    """Go's struct{} (the values of ExposedPorts and Volumes): any object, contents ignored."""


@dataclass(frozen=True)
class ContainerConfig(WireStruct):
    Hostname: str = ""
    Domainname: str = ""
    User: str = ""
    AttachStdin: bool = False
    AttachStdout: bool = False
    AttachStderr: bool = False
    ExposedPorts: Optional[Dict[str, Empty]] = None
    Tty: bool = False
    OpenStdin: bool = False
    StdinOnce: bool = False
    Env: Optional[List[str]] = None
    Cmd: StrSlice = None
    Healthcheck: Optional[HealthConfig] = None
    ArgsEscaped: bool = False
    Image: str = ""
    Volumes: Optional[Dict[str, Empty]] = None
    WorkingDir: str = ""
    Entrypoint: StrSlice = None
    NetworkDisabled: bool = False
    MacAddress: str = ""
    OnBuild: Optional[List[str]] = None
    Labels: Optional[StrMap] = None
    StopSignal: str = ""
    StopTimeout: Optional[Int] = None
    Shell: StrSlice = None

    def check(self, path: str) -> None:
        check_labels(self.Labels, at(path, "Labels"))
        for port in self.ExposedPorts or {}:
            check_port_key(port, at(path, "ExposedPorts"))


# -- HostConfig (api/types/container/hostconfig.go) ---------------------------------
# Every log driver dockerd 28 registers on Linux (daemon/logdrivers_linux.go) and the
# options each knows (jsonfilelog/local/journald ValidateLogOpt, logger.builtInLogOpts).
DOCKER_LOG_DRIVERS = ("json-file", "local", "none", "syslog", "journald", "gelf", "fluentd", "awslogs",
                      "splunk", "gcplogs")
LOG_MODES = ("", "blocking", "non-blocking")
# What rootless's writer applies, per driver it serves (runtime/logs.py).
LOG_APPLIED = {
    "json-file": ("max-size", "max-file", "compress"),
    "local": ("max-size", "max-file", "compress"),
    "journald": ("tag", "cache-disabled", "cache-max-size", "cache-max-file", "cache-compress"),
    "none": (),
}
# The cache-* ones are dual logging's, builtin in dockerd (loggerutils/cache).
_DUAL_LOGGING = ("cache-disabled", "cache-max-size", "cache-max-file", "cache-compress")
LOG_DOCKER_KNOWS = {
    "json-file": ("labels", "labels-regex", "env", "env-regex", "tag") + _DUAL_LOGGING,
    "local": _DUAL_LOGGING,
    "journald": ("labels", "labels-regex", "env", "env-regex"),
    "none": ("max-size", "max-file", "compress", "tag") + _DUAL_LOGGING,
}


@dataclass(frozen=True)
class LogConfig(WireStruct):
    Type: str = ""
    Config: Optional[StrMap] = None

    def check(self, path: str) -> None:
        """moby's logger.ValidateLogOpts, in its order and words; what rootless does not apply refused too."""
        options = dict(self.Config or {})
        mode = options.get("mode", "")
        if mode not in LOG_MODES:
            raise InvalidArgument(f"logger: logging mode not supported: {short(mode)}")
        if "max-buffer-size" in options and mode != "non-blocking":
            raise InvalidArgument("logger: max-buffer-size option is only supported with 'mode=non-blocking'")
        if self.Type not in ("",) + DOCKER_LOG_DRIVERS:
            raise InvalidArgument(f"logger: no log driver named '{short(self.Type)}' is registered")
        driver = self.Type or "json-file"
        if driver not in LOG_APPLIED:
            raise InvalidArgument(f"logger: log driver '{self.Type}' is not supported by rootless: it writes "
                                  "json-file, local, journald or none", hint="drop --log-driver")
        for key, value in sorted(options.items()):
            check_log_option(driver, key, value)


def check_log_option(driver: str, key: str, value: str) -> None:
    """One option of driver: unknown to dockerd (its words), or known but not applied by rootless."""
    if key in LOG_APPLIED[driver] or (key == "mode" and value in ("", "blocking")):
        return  # blocking is what the engine's writer does anyway
    if key in LOG_DOCKER_KNOWS[driver] or key in ("mode", "max-buffer-size"):
        applied = ", ".join(LOG_APPLIED[driver]) or "none"
        raise InvalidArgument(f"logger: log opt '{short(key)}' of the {driver} log driver is not supported "
                              f"by rootless", hint=f"rootless applies only: {applied}")
    raise InvalidArgument(f"unknown log opt '{short(key)}' for {driver} log driver")


@dataclass(frozen=True)
class RestartPolicy(WireStruct):
    Name: str = ""
    MaximumRetryCount: Int = 0

    def check(self, path: str) -> None:
        """moby's container.ValidateRestartPolicy, with its messages."""
        if self.Name == "":
            return  # dockerd before v25 stored "" as the default: any count is allowed
        if self.Name not in RESTART_POLICIES:
            raise InvalidArgument(f"invalid restart policy: unknown policy '{short(self.Name)}'; use one of "
                                  "'no', 'always', 'on-failure', or 'unless-stopped'")
        if self.Name == "on-failure":
            if self.MaximumRetryCount < 0:
                raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
        elif self.MaximumRetryCount != 0:
            raise InvalidArgument("invalid restart policy: maximum retry count can only be used with 'on-failure'"
                                  + (" and cannot be negative" if self.MaximumRetryCount < 0 else ""))


@dataclass(frozen=True)
class PortBinding(WireStruct):
    HostIp: str = ""
    HostPort: str = ""


@dataclass(frozen=True)
class Ulimit(WireStruct):
    Name: str = ""
    Hard: Int = 0
    Soft: Int = 0


@dataclass(frozen=True)
class DeviceMapping(WireStruct):
    PathOnHost: str = ""
    PathInContainer: str = ""
    CgroupPermissions: str = ""


@dataclass(frozen=True)
class WeightDevice(WireStruct):
    Path: str = ""
    Weight: UInt16 = 0


@dataclass(frozen=True)
class ThrottleDevice(WireStruct):
    Path: str = ""
    Rate: UInt = 0


@dataclass(frozen=True)
class DeviceRequest(WireStruct):
    Driver: str = ""
    Count: Int = 0
    DeviceIDs: Optional[List[str]] = None
    Capabilities: Optional[List[List[str]]] = None
    Options: Optional[StrMap] = None


@dataclass(frozen=True)
class BindOptions(WireStruct):
    Propagation: str = ""
    NonRecursive: bool = False
    CreateMountpoint: bool = False
    ReadOnlyNonRecursive: bool = False
    ReadOnlyForceRecursive: bool = False


@dataclass(frozen=True)
class Driver(WireStruct):
    Name: str = ""
    Options: Optional[StrMap] = None


@dataclass(frozen=True)
class VolumeOptions(WireStruct):
    NoCopy: bool = False
    Labels: Optional[StrMap] = None
    Subpath: str = ""
    DriverConfig: Optional[Driver] = None

    def check(self, path: str) -> None:
        check_labels(self.Labels, at(path, "Labels"))


@dataclass(frozen=True)
class ImageOptions(WireStruct):
    Subpath: str = ""


@dataclass(frozen=True)
class TmpfsOptions(WireStruct):
    SizeBytes: Int = 0
    Mode: UInt32 = 0
    Options: Optional[List[List[str]]] = None


@dataclass(frozen=True)
class Mount(WireStruct):
    Type: str = ""
    Source: str = ""
    Target: str = ""
    ReadOnly: bool = False
    Consistency: str = ""
    BindOptions: Optional[BindOptions] = None
    VolumeOptions: Optional[VolumeOptions] = None
    ImageOptions: Optional[ImageOptions] = None
    TmpfsOptions: Optional[TmpfsOptions] = None
    ClusterOptions: Optional[Empty] = None

    def check(self, path: str) -> None:
        """moby's mount validation and its messages (volume/mounts/linux_parser.go)."""
        bad = f'invalid mount config for type "{short(self.Type)}": '
        if self.Type in DOCKER_MOUNT_TYPES:
            raise InvalidArgument(bad + "not supported by rootless")
        if self.Type not in MOUNT_TYPES:
            raise InvalidArgument(bad + "mount type unknown")
        if not self.Target:
            raise InvalidArgument(bad + "field Target must not be empty")
        if self.Type == "bind" and not self.Source:
            raise InvalidArgument(bad + "field Source must not be empty")
        for value in (self.Target, self.Source if self.Type == "bind" else "/"):
            if not value.startswith("/"):  # else the engine would read a bind source as a volume name
                raise InvalidArgument(bad + f"invalid mount path: {short(value)!r} mount path must be absolute")
        if self.Type == "tmpfs" and self.Source:
            raise InvalidArgument(bad + "field Source must not be specified")
        if self.Type == "volume" and self.Source:
            check_volume_name(self.Source, at(path, "Source"))
        if self.Type == "volume" and self.VolumeOptions is not None and self.VolumeOptions.Subpath:
            check_subpath(self.VolumeOptions.Subpath, bad, anonymous=not self.Source)
        for name, owner in (("BindOptions", "bind"), ("VolumeOptions", "volume"), ("TmpfsOptions", "tmpfs")):
            if getattr(self, name) is not None and self.Type != owner:  # else they would be ignored
                raise InvalidArgument(bad + f"field {name} must not be specified")


# -- resource limits (moby daemon/daemon_unix.go verifyPlatformContainerResources) ------
# dockerd checks these at create and update, before the container exists; without them a bad value
# would be stored and fail only at start, in crun or the kernel.
LINUX_MIN_MEMORY = 6291456  # dockerd's floor: a startup overhead, not a kernel limit
MIN_NANO_CPUS = 10_000_000  # 0.01 CPU: a quota below 1ms of the 100ms period the kernel refuses
MAX_CPUSET = 8192  # dockerd's defaultMaxCPUs (CVE-2018-20699: "0-9223372036854775807" exhausted memory)
_CPU_LIST_ITEM_RE = re.compile(r"\+?[0-9]+")  # Go's strconv.Atoi


@dataclass(frozen=True)
class HostCpus:
    """What dockerd's sysinfo reports: the CPUs this daemon may use (runtime.NumCPU, cpuset.cpus)
    and its memory nodes (cpuset.mems); mems "" when unknown, then only the syntax is checked."""

    count: int
    cpus: str
    mems: str


def host_cpus() -> HostCpus:
    """This process's CPU affinity and allowed memory nodes: what a container under it can get."""
    cpus = sorted(os.sched_getaffinity(0))
    mems = ""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Mems_allowed_list:"):
                    mems = line.split(":", 1)[1].strip()
    except OSError:
        pass  # no /proc: availability of memory nodes is left to the kernel
    return HostCpus(len(cpus), ",".join(f"{lo}-{hi}" if hi > lo else str(lo) for lo, hi in _runs(cpus)), mems)


def _runs(numbers: List[int]) -> List[Tuple[int, int]]:
    """Sorted numbers as (first, last) runs: [0, 1, 2, 5] -> [(0, 2), (5, 5)]."""
    runs: List[Tuple[int, int]] = []
    for number in numbers:
        if runs and runs[-1][1] == number - 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return runs


def parse_cpu_list(value: str, maximum: int) -> List[Tuple[int, int]]:
    """"0-2,5" -> [(0, 2), (5, 5)], as dockerd's parseUintList reads it, with its messages (ValueError)."""
    if not value:
        return []
    ranges = []
    for item in value.split(","):
        low, dash, high = item.partition("-")
        if not _CPU_LIST_ITEM_RE.fullmatch(low) or (dash and not _CPU_LIST_ITEM_RE.fullmatch(high)):
            raise ValueError(f"invalid format: {value}")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ValueError(f"invalid format: {value}")
        if maximum and last > maximum:
            raise ValueError(f"value of out range, maximum is {maximum}")
        ranges.append((first, last))
    return ranges


def limit_error(path: str, name: str, value: object, message: str) -> InvalidArgument:
    """The field and its value, then dockerd's own words (docker's tests match on them)."""
    return InvalidArgument(f"invalid argument: {at(path, name)}: {json.dumps(value)}: {message}")


def check_cpuset(value: str, available: str, what: str, where: str) -> None:
    """CpusetCpus/CpusetMems: dockerd's syntax and "not available" checks against this host's set."""
    have = {n for lo, hi in parse_cpu_list(available, 0) for n in range(lo, hi + 1)} if available else None
    try:
        wanted = parse_cpu_list(value, max([MAX_CPUSET, *(have or ())]))
    except ValueError as exc:
        raise limit_error("", where, value, f"Invalid value {value} for cpuset {what}: {exc}") from None
    if have is None:
        return
    for low, high in wanted:  # a range wider than the set can't fit: no need to walk it
        if high - low >= len(have) or any(n not in have for n in range(low, high + 1)):
            noun = "CPUs" if what == "cpus" else "memory nodes"
            raise limit_error("", where, value,
                              f"Requested {noun} are not available - requested {value}, available: {available}")


def check_memory(res: Resources, path: str, update: bool) -> None:
    """Memory, MemorySwap and MemoryReservation, in dockerd's order and words."""
    def bad(name: str, message: str) -> InvalidArgument:
        return limit_error(path, name, getattr(res, name), message)
    if res.Memory != 0 and res.Memory < LINUX_MIN_MEMORY:
        raise bad("Memory", "Minimum memory limit allowed is 6MB")
    if res.Memory > 0 and 0 < res.MemorySwap < res.Memory:
        raise bad("MemorySwap", "Minimum memoryswap limit should be larger than memory limit, see usage")
    if res.Memory == 0 and res.MemorySwap > 0 and not update:  # update: the recorded Memory counts
        raise bad("MemorySwap", "You should always set the Memory limit when using Memoryswap limit, see usage")
    if 0 < res.MemoryReservation < LINUX_MIN_MEMORY:
        raise bad("MemoryReservation", "Minimum memory reservation allowed is 6MB")
    if res.Memory > 0 and res.MemoryReservation > 0 and res.Memory < res.MemoryReservation:
        raise bad("Memory", "Minimum memory limit can not be less than memory reservation limit, see usage")


def check_cpu(res: Resources, path: str, ncpu: int) -> None:
    """NanoCpus, CpuShares, CpuPeriod and CpuQuota, in dockerd's order and words."""
    def bad(name: str, message: str) -> InvalidArgument:
        return limit_error(path, name, getattr(res, name), message)
    if res.NanoCpus > 0 and res.CpuPeriod > 0:
        raise bad("NanoCpus", "Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if res.NanoCpus > 0 and res.CpuQuota > 0:
        raise bad("NanoCpus", "Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if res.NanoCpus != 0 and not MIN_NANO_CPUS <= res.NanoCpus <= ncpu * 1_000_000_000:
        raise bad("NanoCpus", f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available")
    if res.CpuShares < 0:  # dockerd says so only at start (getCPUResources)
        raise bad("CpuShares", f"invalid CPU shares ({res.CpuShares}): value must be a positive integer")
    if res.CpuPeriod != 0 and not 1000 <= res.CpuPeriod <= 1000000:
        raise bad("CpuPeriod", "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if 0 < res.CpuQuota < 1000:
        raise bad("CpuQuota", "CPU cfs quota can not be less than 1ms (i.e. 1000)")


def check_resources(res: Resources, path: str, host: HostCpus, update: bool = False) -> None:
    """dockerd's verifyPlatformContainerResources: the same rules at create and update (update: the
    body holds only the changes, so MemorySwap may come without Memory). PidsLimit needs none:
    0 and every negative value mean unlimited, as in dockerd."""
    check_memory(res, path, update)
    check_cpu(res, path, host.count)
    check_cpuset(res.CpusetCpus, host.cpus, "cpus", at(path, "CpusetCpus"))
    check_cpuset(res.CpusetMems, host.mems, "mems", at(path, "CpusetMems"))
    if res.BlkioWeight and not 10 <= res.BlkioWeight <= 1000:
        raise limit_error(path, "BlkioWeight", res.BlkioWeight, "Range of blkio weight is from 10 to 1000")


@dataclass(frozen=True)
class Resources(WireStruct):
    """Go's container.Resources: embedded in HostConfig and in UpdateConfig, one field list for both."""

    CpuShares: Int = 0
    Memory: Int = 0
    NanoCpus: Int = 0
    CgroupParent: str = ""
    BlkioWeight: UInt16 = 0
    BlkioWeightDevice: Optional[List[WeightDevice]] = None
    BlkioDeviceReadBps: Optional[List[ThrottleDevice]] = None
    BlkioDeviceWriteBps: Optional[List[ThrottleDevice]] = None
    BlkioDeviceReadIOps: Optional[List[ThrottleDevice]] = None
    BlkioDeviceWriteIOps: Optional[List[ThrottleDevice]] = None
    CpuPeriod: Int = 0
    CpuQuota: Int = 0
    CpuRealtimePeriod: Int = 0
    CpuRealtimeRuntime: Int = 0
    CpusetCpus: str = ""
    CpusetMems: str = ""
    Devices: Optional[List[DeviceMapping]] = None
    DeviceCgroupRules: Optional[List[str]] = None
    DeviceRequests: Optional[List[DeviceRequest]] = None
    KernelMemory: Int = 0
    KernelMemoryTCP: Int = 0
    MemoryReservation: Int = 0
    MemorySwap: Int = 0
    MemorySwappiness: Optional[Int] = None
    OomKillDisable: Optional[bool] = None
    PidsLimit: Optional[Int] = None
    Ulimits: Optional[List[Ulimit]] = None
    CpuCount: Int = 0
    CpuPercent: Int = 0
    IOMaximumIOps: UInt = 0
    IOMaximumBandwidth: UInt = 0

    def check(self, path: str) -> None:
        # The host's CPUs (affinity, /proc/self/status) only for the fields checked against them.
        uses_host = self.NanoCpus or self.CpusetCpus or self.CpusetMems
        check_resources(self, path, host_cpus() if uses_host else HostCpus(0, "", ""))


@dataclass(frozen=True)
class HostConfig(Resources):
    Binds: Optional[List[str]] = None
    ContainerIDFile: str = ""
    LogConfig: LogConfig = field(default_factory=LogConfig)
    NetworkMode: str = ""
    PortBindings: Optional[Dict[str, Optional[List[PortBinding]]]] = None
    RestartPolicy: RestartPolicy = field(default_factory=RestartPolicy)
    AutoRemove: bool = False
    VolumeDriver: str = ""
    VolumesFrom: Optional[List[str]] = None
    ConsoleSize: Optional[ConsoleSize] = None
    Annotations: Optional[StrMap] = None
    CapAdd: StrSlice = None
    CapDrop: StrSlice = None
    CgroupnsMode: str = ""
    Dns: Optional[List[str]] = None
    DnsOptions: Optional[List[str]] = None
    DnsSearch: Optional[List[str]] = None
    ExtraHosts: Optional[List[str]] = None
    GroupAdd: Optional[List[str]] = None
    IpcMode: str = ""
    Cgroup: str = ""
    Links: Optional[List[str]] = None
    OomScoreAdj: Int = 0
    PidMode: str = ""
    Privileged: bool = False
    PublishAllPorts: bool = False
    ReadonlyRootfs: bool = False
    SecurityOpt: Optional[List[str]] = None
    StorageOpt: Optional[StrMap] = None
    Tmpfs: Optional[StrMap] = None
    UTSMode: str = ""
    UsernsMode: str = ""
    ShmSize: Int = 0
    Sysctls: Optional[StrMap] = None
    Runtime: str = ""
    Isolation: str = ""
    Mounts: Optional[List[Mount]] = None
    MaskedPaths: Optional[List[str]] = None
    ReadonlyPaths: Optional[List[str]] = None
    Init: Optional[bool] = None

    def check(self, path: str) -> None:
        super().check(path)
        if not -1000 <= self.OomScoreAdj <= 1000:
            raise limit_error(path, "OomScoreAdj", self.OomScoreAdj,
                              f"Invalid value {self.OomScoreAdj}, range for oom score adj is [-1000, 1000]")
        for key, bindings in (self.PortBindings or {}).items():
            where = f"{at(path, 'PortBindings')}[{key!r}]"
            check_port_key(key, at(path, "PortBindings"))
            for binding in bindings or []:
                check_host_port(binding.HostPort, where)
        for index, spec in enumerate(self.Binds or []):
            source = bind_volume_source(spec)
            if source is not None:
                check_volume_name(source, f"{at(path, 'Binds')}[{index}]")


# -- NetworkingConfig (api/types/network/endpoint.go) -------------------------------
@dataclass(frozen=True)
class EndpointIPAMConfig(WireStruct):
    IPv4Address: str = ""
    IPv6Address: str = ""
    LinkLocalIPs: Optional[List[str]] = None


@dataclass(frozen=True)
class EndpointSettings(WireStruct):
    IPAMConfig: Optional[EndpointIPAMConfig] = None
    Links: Optional[List[str]] = None
    Aliases: Optional[List[str]] = None
    MacAddress: str = ""
    DriverOpts: Optional[StrMap] = None
    GwPriority: Int = 0
    NetworkID: str = ""
    EndpointID: str = ""
    Gateway: str = ""
    IPAddress: str = ""
    IPPrefixLen: Int = 0
    IPv6Gateway: str = ""
    GlobalIPv6Address: str = ""
    GlobalIPv6PrefixLen: Int = 0
    DNSNames: Optional[List[str]] = None


@dataclass(frozen=True)
class NetworkingConfig(WireStruct):
    EndpointsConfig: Optional[Dict[str, Optional[EndpointSettings]]] = None


@dataclass(frozen=True)
class ContainerCreate(ContainerConfig):
    """POST /containers/create: Config with HostConfig and NetworkingConfig beside it (Go's CreateRequest)."""

    HostConfig: Optional[HostConfig] = None
    NetworkingConfig: Optional[NetworkingConfig] = None


@dataclass(frozen=True)
class ContainerUpdate(Resources):
    """POST /containers/{id}/update: Resources and RestartPolicy (Go's container.UpdateConfig).
    A zero field means "leave as is", as in dockerd."""

    RestartPolicy: RestartPolicy = field(default_factory=RestartPolicy)

    def check(self, path: str) -> None:
        check_resources(self, path, host_cpus(), update=True)


# -- exec (api/types/container/exec.go) ---------------------------------------------
@dataclass(frozen=True)
class ExecCreate(WireStruct):
    User: str = ""
    Privileged: bool = False
    Tty: bool = False
    ConsoleSize: Optional[ConsoleSize] = None
    AttachStdin: bool = False
    AttachStderr: bool = False
    AttachStdout: bool = False
    Detach: bool = False
    DetachKeys: str = ""
    Env: Optional[List[str]] = None
    WorkingDir: str = ""
    Cmd: Optional[List[str]] = None


@dataclass(frozen=True)
class ExecStart(WireStruct):
    Detach: bool = False
    Tty: bool = False
    ConsoleSize: Optional[ConsoleSize] = None


# -- volumes (api/types/volume/create_options.go) -----------------------------------
@dataclass(frozen=True)
class VolumeCreate(WireStruct):
    Name: str = ""
    Driver: str = ""
    DriverOpts: Optional[StrMap] = None
    Labels: Optional[StrMap] = None
    ClusterVolumeSpec: Optional[Empty] = None

    def check(self, path: str) -> None:
        if self.Name:
            check_volume_name(self.Name)
        check_labels(self.Labels, at(path, "Labels"))
        if self.ClusterVolumeSpec is not None:
            raise InvalidArgument("can't create volume: ClusterVolumeSpec: cluster volumes need swarm mode",
                                  hint="rootless has local volumes only; drop the cluster options")


# -- networks (api/types/network/create.go, network.go) ------------------------------
@dataclass(frozen=True)
class IPAMConfig(WireStruct):
    Subnet: str = ""
    IPRange: str = ""
    Gateway: str = ""
    AuxiliaryAddresses: Optional[StrMap] = None


@dataclass(frozen=True)
class IPAM(WireStruct):
    Driver: str = ""
    Options: Optional[StrMap] = None
    Config: Optional[List[IPAMConfig]] = None


@dataclass(frozen=True)
class ConfigReference(WireStruct):
    Network: str = ""


@dataclass(frozen=True)
class NetworkCreate(WireStruct):
    Name: str = ""
    CheckDuplicate: Optional[bool] = None
    Driver: str = ""
    Scope: str = ""
    EnableIPv4: Optional[bool] = None
    EnableIPv6: Optional[bool] = None
    IPAM: Optional[IPAM] = None
    Internal: bool = False
    Attachable: bool = False
    Ingress: bool = False
    ConfigOnly: bool = False
    ConfigFrom: Optional[ConfigReference] = None
    Options: Optional[StrMap] = None
    Labels: Optional[StrMap] = None

    def check(self, path: str) -> None:
        check_network_name(self.Name)
        check_labels(self.Labels, at(path, "Labels"))


@dataclass(frozen=True)
class NetworkConnect(WireStruct):
    Container: str = ""
    EndpointConfig: Optional[EndpointSettings] = None


@dataclass(frozen=True)
class NetworkDisconnect(WireStruct):
    Container: str = ""
    Force: bool = False


# -- registry (api/types/registry/authconfig.go) -------------------------------------
@dataclass(frozen=True)
class AuthConfig(WireStruct):
    """POST /auth and X-Registry-Auth; Go's JSON names here are lower-case."""

    username: str = ""
    password: str = ""
    auth: str = ""
    email: str = ""
    serveraddress: str = ""
    identitytoken: str = ""
    registrytoken: str = ""
