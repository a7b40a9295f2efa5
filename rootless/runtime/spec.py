"""The OCI runtime config.json for one container, as crun runs it inside our user namespace.

The engine hands over plain `SpecOptions` (argv, env, mounts, a network mode,
...); this module knows nothing of named volumes or networks. The result
follows runtime-spec v1.0.2 (https://github.com/opencontainers/runtime-spec/blob/v1.0.2/config.md)
with docker's defaults (moby daemon/pkg/oci/defaults.go) adjusted the way
podman adjusts them for rootless mode:

- no `user` namespace and no uid/gid mappings: crun already runs as root of
  the engine's user namespace, and the container keeps that mapping;
- devices are bind mounts of the host's nodes (an unprivileged user can't mknod);
- /sys is a fresh sysfs only when the container has its own network namespace
  (sysfs can only be mounted by the netns owner), otherwise a read-only rbind;
- no cgroup mount, cgroup namespace or linux.resources unless cgroups are
  delegated, and limits requested without them are refused, never dropped.
"""
from __future__ import annotations

import logging
import os
import platform
import posixpath
import resource
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, cast

from rootless.config import paths
from rootless.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from rootless.runtime import cdi, devices, hooks, seccomp, users
from rootless.host.cgroups import CgroupInfo, require_controller
from rootless.runtime.spec_types import (
    Linux, LinuxResources, MountJSON, Namespace, Process, Rlimit, Spec, SpecUser,
)
from rootless.util import proc
from rootless.wire.command import command_line
from rootless.wire.command import merge_env as wire_merge_env

if TYPE_CHECKING:
    from rootless.host.userns import Mapping

logger = logging.getLogger(__name__)

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHM_SIZE = 64 * 1024 * 1024
CPU_PERIOD = 100000
UINT64_MAX = 2**64 - 1
NETWORK_MODES = ("private", "host", "none", "container")
# pid/ipc: a new namespace, the daemon's (= the host's: the daemon unshares only user and mount),
# or another container's (its *_ns_path); ipc adds docker's shareable and none (no /dev/shm).
PID_MODES = ("private", "host", "container")
IPC_MODES = ("private", "shareable", "none", "host", "container")
INIT_PATH = "/dev/init"
INIT_BINARIES = ("catatonit", "tini-static")  # must be static: images may have no libc

# moby daemon/pkg/oci/caps/defaults.go
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)
# Indexed by capability number (linux/capability.h); cut at /proc/sys/kernel/cap_last_cap.
ALL_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
MASKED_PATHS = (
    "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
    "/proc/timer_stats", "/sys/devices/virtual/powercap", "/sys/firmware",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
# The runtime-spec's default devices, bound from the host as podman does rootless.
DEFAULT_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")
# Not bound with --privileged: the container gets its own instances of these.
PRIVATE_DEV_ENTRIES = ("/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/console", "/dev/ptmx", "/dev/tty")
# moby's ValidateSysctl: only namespaced sysctls may be set.
SYSCTLS_ALLOWED = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                   "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")
SYSCTL_PREFIXES_ALLOWED = ("fs.mqueue.", "net.")
ULIMIT_NAMES = ("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
                "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack")
CGROUP_MODE_WORDS = {"hybrid": "hybrid v1/v2", "v1": "cgroup v1", "v2": "cgroup v2, no delegation",
                     "none": "no cgroup filesystem"}


@dataclass(frozen=True)
class Mount:
    """A mount the engine asks for: a bind (volume, host dir) or another filesystem."""

    destination: str
    source: str
    type: str = "bind"
    options: Tuple[str, ...] = ()

    def to_json(self) -> MountJSON:
        options = list(self.options)
        if self.type == "bind" and not {"bind", "rbind"} & set(options):
            options.insert(0, "rbind")
        return {"destination": self.destination, "type": self.type, "source": self.source, "options": options}


@dataclass(frozen=True)
class Ulimit:
    """docker's --ulimit name=soft:hard."""

    name: str
    soft: int
    hard: int


@dataclass
class SpecOptions:
    """Everything the engine decides about one container, in runtime terms."""

    rootfs: str  # absolute path of the mounted rootfs
    args: List[str]  # the final argv: see resolve_args()
    env: List[str] = field(default_factory=list)  # KEY=VALUE, image env merged with the request's: merge_env()
    cwd: str = "/"
    user: str = ""  # "name", "uid", "uid:gid", "name:group", resolved in the rootfs
    group_add: List[str] = field(default_factory=list)
    hostname: str = ""
    tty: bool = False
    open_stdin: bool = False  # not part of config.json: the caller wires stdin when it starts crun
    privileged: bool = False
    cap_add: List[str] = field(default_factory=list)
    cap_drop: List[str] = field(default_factory=list)
    read_only: bool = False
    tmpfs: Dict[str, str] = field(default_factory=dict)  # destination -> "size=64m,exec" (docker --tmpfs)
    mounts: List[Mount] = field(default_factory=list)  # binds of volumes and host paths, made by the engine
    ulimits: List[Ulimit] = field(default_factory=list)
    init: bool = False
    no_new_privileges: bool = True
    security_opt: List[str] = field(default_factory=list)  # seccomp=..., no-new-privileges, label=..., systempaths=...
    shm_size: Optional[int] = None  # bytes; docker's 64 MiB when None
    sysctls: Dict[str, str] = field(default_factory=dict)
    network: str = "private"  # "private" (slirp4netns/pasta attach later), "none" (loopback only), "host",
    # or "container": join netns_path (another container's)
    netns_path: Optional[str] = None  # join this netns instead of creating one (e.g. another container's)
    pid: str = "private"  # PID_MODES; "container" joins pid_ns_path
    pid_ns_path: Optional[str] = None
    ipc: str = "private"  # IPC_MODES; "container" joins ipc_ns_path
    ipc_ns_path: Optional[str] = None
    shm_source: Optional[str] = None  # shareable/container ipc: the engine's tmpfs bound as /dev/shm
    devices: List[devices.Device] = field(default_factory=list)  # --device: binds of host nodes
    etc_files: Dict[str, str] = field(default_factory=dict)  # "/etc/hosts" -> the engine's generated file
    annotations: Dict[str, str] = field(default_factory=dict)
    oom_score_adj: Optional[int] = None
    masked_paths: Optional[List[str]] = None
    readonly_paths: Optional[List[str]] = None
    hooks_dirs: Optional[List[str]] = None  # None: config.paths.hooks_dirs()
    cgroup: CgroupInfo = field(default_factory=lambda: CgroupInfo(mode="none"))
    cgroups_path: Optional[str] = None
    memory: Optional[int] = None  # bytes
    memory_swap: Optional[int] = None  # bytes, memory + swap as docker counts it
    cpus: Optional[float] = None  # docker --cpus
    pids_limit: Optional[int] = None
    domainname: str = ""
    memory_reservation: Optional[int] = None  # bytes, a soft limit (memory.low)
    cpu_shares: Optional[int] = None  # docker --cpu-shares (relative weight, 1024 by default)
    cpu_quota: Optional[int] = None  # microseconds per cpu_period (docker --cpu-quota)
    cpu_period: Optional[int] = None  # microseconds (docker --cpu-period)
    cpuset_cpus: str = ""  # "0-2,4"
    cpuset_mems: str = ""
    blkio_weight: Optional[int] = None  # 10..1000
    # CDI devices by qualified name (vendor.com/class=name, runtime/cdi.py), applied last; the
    # engine fills it from HostConfig.DeviceRequests (Driver "cdi") once the API accepts them.
    cdi_devices: List[str] = field(default_factory=list)
    cdi_spec_dirs: Optional[List[str]] = None  # None: cdi.SPEC_DIRS
    # (container id, engine id, count): a user namespace of its own (--userns=keep-id); none: ours
    uid_mappings: List[Tuple[int, int, int]] = field(default_factory=list)
    gid_mappings: List[Tuple[int, int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class HostFacts:
    """What the spec depends on in the daemon's own process and host; faked in tests."""

    rlimits: Dict[str, Tuple[int, int]]
    last_cap: int
    oom_score_adj: int
    machine: str
    kernel: Tuple[int, ...]
    init_binary: Optional[str]
    devices: Tuple[str, ...]

    @classmethod
    def detect(cls) -> "HostFacts":
        return cls(
            rlimits={name: resource.getrlimit(getattr(resource, "RLIMIT_" + name.upper()))
                     for name in ULIMIT_NAMES if hasattr(resource, "RLIMIT_" + name.upper())},
            last_cap=int(_read_text("/proc/sys/kernel/cap_last_cap") or len(ALL_CAPABILITIES) - 1),
            oom_score_adj=int(_read_text("/proc/self/oom_score_adj") or 0),
            machine=platform.machine(),
            kernel=seccomp.kernel_version(),
            init_binary=next((p for p in map(proc.which, INIT_BINARIES) if p), None),
            devices=tuple(list_host_devices("/dev")),
        )


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


def list_host_devices(dev_root: str) -> List[str]:
    """Character and block devices under dev_root, minus the per-container ones."""
    found = []
    for parent, dirs, files in os.walk(dev_root):
        dirs[:] = [d for d in dirs if os.path.join(parent, d) not in PRIVATE_DEV_ENTRIES]
        for name in files:
            path = os.path.join(parent, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and path not in PRIVATE_DEV_ENTRIES:
                found.append(path)
    return sorted(found)


# -- command line and environment --------------------------------------------------------


def resolve_args(
    image_entrypoint: Optional[Sequence[str]],
    image_cmd: Optional[Sequence[str]],
    entrypoint_override: Optional[Sequence[str]],
    cmd_override: Optional[Sequence[str]],
) -> List[str]:
    """The container's argv by docker's rules: wire.command.command_line.

    The engine calls wire.command.command_line itself; this stays for the runtime's own users.
    """
    return command_line(entrypoint_override, cmd_override, image_entrypoint, image_cmd)


def _env_key(entry: str) -> str:
    return entry.partition("=")[0]


def merge_env(base: Sequence[str], overrides: Sequence[str]) -> List[str]:
    """moby's ReplaceOrAppendEnvValues: wire.command.merge_env.

    engine/execs.py calls wire.command.merge_env itself.
    """
    return wire_merge_env(base, overrides)


def container_env(env: Sequence[str], hostname: str, tty: bool, home: str) -> List[str]:
    """Docker's daemon environment (PATH, HOSTNAME, TERM) under the container's env, plus HOME."""
    daemon = [f"PATH={DEFAULT_PATH}"]
    if hostname:
        daemon.append(f"HOSTNAME={hostname}")
    if tty:
        daemon.append("TERM=xterm")
    merged = merge_env(daemon, env)  # a bare KEY in Config.Env unsets it, as docker's ReplaceOrAppendEnvValues
    if not any(_env_key(e) == "HOME" for e in merged):
        merged.append(f"HOME={home}")
    return merged


# -- capabilities and security options ---------------------------------------------------


def _normalise_cap(name: str, known: Sequence[str]) -> str:
    cap = name.strip().upper()
    if cap == "ALL":
        return cap
    cap = cap if cap.startswith("CAP_") else "CAP_" + cap
    if cap not in known:
        raise InvalidArgument(f"invalid capability: {name}: unknown to this kernel")
    return cap


def resolve_capabilities(
    cap_add: Sequence[str], cap_drop: Sequence[str], privileged: bool, last_cap: int
) -> List[str]:
    """docker's default set tweaked by --cap-add/--cap-drop (moby oci/caps TweakCapabilities)."""
    known = ALL_CAPABILITIES[: last_cap + 1]
    if privileged:
        return list(known)
    adds = [_normalise_cap(c, known) for c in cap_add]
    drops = [_normalise_cap(c, known) for c in cap_drop]
    if "ALL" in adds:
        base: Sequence[str] = known
    elif "ALL" in drops:
        base = ()
    else:
        base = DEFAULT_CAPABILITIES
    caps = [c for c in base if c not in drops or c in adds]
    # Added capabilities win over dropped ones, as in moby.
    caps += [c for c in adds if c != "ALL" and c not in caps]
    return caps


@dataclass
class SecurityOptions:
    """The parts of --security-opt that mean something here."""

    seccomp_profile: Optional[str] = None  # None: docker's default; "unconfined"; or JSON text
    no_new_privileges: Optional[bool] = None
    unconfined_paths: bool = False


def _parse_bool(value: str, option: str) -> bool:
    if value.lower() in ("", "true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise InvalidArgument(f"invalid --security-opt: {option}: expected true or false")


def _read_profile_file(path: str, option: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise InvalidArgument(f"invalid --security-opt: {option}: {exc.strerror}") from None


def parse_security_options(values: Sequence[str]) -> SecurityOptions:
    """docker's `key=value` (or legacy `key:value`) security options."""
    parsed = SecurityOptions()
    for option in values:
        key, sep, value = option.partition("=")
        if not sep:
            key, _, value = option.partition(":")
        if key == "seccomp":
            looks_inline = value == "unconfined" or value.lstrip().startswith("{")
            parsed.seccomp_profile = value if looks_inline else _read_profile_file(value, option)
        elif key == "no-new-privileges":
            parsed.no_new_privileges = _parse_bool(value, option)
        elif key == "systempaths":
            parsed.unconfined_paths = value == "unconfined"
        elif key in ("label", "apparmor"):
            # No SELinux or AppArmor confinement is applied by an unprivileged engine.
            logger.debug("ignoring --security-opt %s: not supported rootless", option)
        else:
            raise InvalidArgument(f"invalid --security-opt: {option}: unknown option {key!r}")
    return parsed


def build_seccomp(security: SecurityOptions, privileged: bool, caps: Sequence[str],
                  host: HostFacts) -> Optional[Dict[str, Any]]:
    """linux.seccomp, or None when the container is unconfined."""
    if privileged or security.seccomp_profile == "unconfined":
        return None
    profile = (seccomp.default_profile() if security.seccomp_profile is None
               else seccomp.parse_profile(security.seccomp_profile))
    return seccomp.resolve_profile(profile, caps, machine=host.machine, kernel=host.kernel)


# -- process -------------------------------------------------------------------------------


def _id_mapped(value: int, maps: Sequence[Any]) -> bool:
    return any(m.inside <= value < m.inside + m.count for m in maps)


def check_user_mapped(user: users.ExecUser, mapping: "Mapping") -> None:
    """A uid or gid outside the engine's mapping would make crun fail with EINVAL."""
    unmapped = [f"uid {user.uid}"] if not _id_mapped(user.uid, mapping.uids) else []
    unmapped += [f"gid {g}" for g in (user.gid, *user.additional_gids) if not _id_mapped(g, mapping.gids)]
    if unmapped:
        top = max(m.inside + m.count for m in mapping.uids) - 1
        raise InvalidArgument(
            f"can't run as {unmapped[0]}: not mapped in the user namespace (ids 0-{top} are)",
            hint="give this user a larger range in /etc/subuid and /etc/subgid, or pick another --user",
        )


def _unlimited_as_max(value: int) -> int:
    """docker sends -1 (and Python reports RLIM_INFINITY) for unlimited; the spec wants a uint64."""
    return UINT64_MAX if value < 0 or value == resource.RLIM_INFINITY else value


def _check_ulimit(ulimit: Ulimit, host: HostFacts) -> Tuple[int, int]:
    if ulimit.name not in ULIMIT_NAMES:
        raise InvalidArgument(f"invalid ulimit: {ulimit.name}: unknown name")
    soft, hard = _unlimited_as_max(ulimit.soft), _unlimited_as_max(ulimit.hard)
    if soft > hard:
        raise InvalidArgument(
            f"invalid ulimit: {ulimit.name}: soft limit {ulimit.soft} exceeds hard limit {ulimit.hard}")
    own_hard = _unlimited_as_max(host.rlimits.get(ulimit.name, (-1, -1))[1])
    if hard > own_hard:
        raise PermissionDenied(
            f"invalid ulimit: {ulimit.name}: hard limit {ulimit.hard} exceeds this user's own ({own_hard})",
            hint="an unprivileged user can't raise hard limits; ask for at most the value of `ulimit -H`")
    return soft, hard


def build_rlimits(ulimits: Sequence[Ulimit], host: HostFacts) -> List[Rlimit]:
    """RLIMIT_NOFILE raised to the daemon's hard limit (as podman rootless), then --ulimit."""
    wanted: Dict[str, Tuple[int, int]] = {}
    if "nofile" in host.rlimits:
        hard = _unlimited_as_max(host.rlimits["nofile"][1])
        wanted["nofile"] = (hard, hard)
    for ulimit in ulimits:
        wanted[ulimit.name] = _check_ulimit(ulimit, host)
    return [{"type": "RLIMIT_" + name.upper(), "hard": hard, "soft": soft}
            for name, (soft, hard) in wanted.items()]


def _check_oom_score_adj(value: Optional[int], host: HostFacts) -> None:
    if value is None:
        return
    if not -1000 <= value <= 1000:
        raise InvalidArgument(f"invalid oom score adj: {value}: must be between -1000 and 1000")
    if value < host.oom_score_adj:
        raise PermissionDenied(
            f"invalid oom score adj: {value}: an unprivileged user can't go below its own ({host.oom_score_adj})")


def build_process(options: SpecOptions, user: users.ExecUser, caps: Sequence[str],
                  no_new_privileges: bool, host: HostFacts) -> Process:
    """process: argv, env, user, capabilities, rlimits."""
    if not posixpath.isabs(options.cwd or "/"):
        raise InvalidArgument(f"invalid working directory: {options.cwd}: must be absolute")
    _check_oom_score_adj(options.oom_score_adj, host)
    args = list(options.args)
    if options.init:
        args = [INIT_PATH, "--"] + args
    spec_user: SpecUser = {"uid": user.uid, "gid": user.gid}
    if user.additional_gids:
        spec_user["additionalGids"] = list(user.additional_gids)
    process: Process = {
        "terminal": options.tty,
        "user": spec_user,
        "args": args,
        "env": container_env(options.env, options.hostname, options.tty, user.home),
        "cwd": posixpath.normpath(options.cwd or "/"),
        "capabilities": {"bounding": list(caps), "effective": list(caps), "permitted": list(caps)},
        "rlimits": build_rlimits(options.ulimits, host),
        "noNewPrivileges": no_new_privileges,
    }
    if options.oom_score_adj is not None:
        process["oomScoreAdj"] = options.oom_score_adj
    return process


# -- mounts --------------------------------------------------------------------------------


def _size_option(size: int) -> str:
    return f"size={size // 1024}k" if size % 1024 == 0 else f"size={size}"


def _sysfs_mount(options: SpecOptions) -> MountJSON:
    """A fresh sysfs needs the mounter to own the netns; with the host's netns we rbind /sys."""
    flags = ["nosuid", "noexec", "nodev"] + ([] if options.privileged else ["ro"])
    if options.network == "host" and not options.netns_path:
        return {"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind"] + flags}
    return {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": flags}


def _proc_mount(options: SpecOptions) -> MountJSON:
    """A fresh procfs needs the mounter to own the pid namespace; the host's belongs to the
    kernel's user namespace, so --pid host binds the host's /proc (as podman does rootless)."""
    flags = ["nosuid", "noexec", "nodev"]
    if options.pid == "host":
        return {"destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind"] + flags}
    return {"destination": "/proc", "type": "proc", "source": "proc", "options": flags}


def _bind(path: str, source: str) -> MountJSON:
    return {"destination": path, "type": "bind", "source": source, "options": ["rbind", "nosuid", "noexec", "nodev"]}


def ipc_mounts(options: SpecOptions) -> List[MountJSON]:
    """/dev/shm and /dev/mqueue as docker's --ipc gives them (moby daemon/container_operations_unix.go)."""
    mqueue: MountJSON = {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                         "options": ["nosuid", "noexec", "nodev"]}
    if options.ipc == "host":
        # the host's IPC namespace is the kernel user namespace's: no fresh mqueue can be mounted for
        # it, so its instances are bound (a host without /dev/mqueue has none to give)
        return [_bind("/dev/shm", "/dev/shm")] + ([_bind("/dev/mqueue", "/dev/mqueue")]
                                                 if os.path.isdir("/dev/mqueue") else [])
    if options.ipc == "none":
        return [mqueue]  # docker's none: a private namespace and no /dev/shm at all
    if options.ipc in ("shareable", "container"):
        if not options.shm_source:
            raise FailedPrecondition(f"ipc mode {options.ipc}: the engine made no shared /dev/shm for it")
        return [_bind("/dev/shm", options.shm_source), mqueue]
    shm_size = DEFAULT_SHM_SIZE if options.shm_size is None else options.shm_size
    shm: MountJSON = {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                      "options": ["nosuid", "noexec", "nodev", "mode=1777", _size_option(shm_size)]}
    return [shm, mqueue]


def default_mounts(options: SpecOptions, mapping: "Mapping") -> List[MountJSON]:
    """docker's default filesystems (moby oci/defaults.go), adjusted for rootless mode."""
    # gid=5 (tty) only when the namespace maps it, else devpts refuses the mount.
    pts_options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
    if _id_mapped(5, mapping.gids):
        pts_options.append("gid=5")
    mounts: List[MountJSON] = [
        _proc_mount(options),
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": pts_options},
        *ipc_mounts(options),
        _sysfs_mount(options),
    ]
    if options.cgroup.limits_supported:
        mounts.append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                       "options": ["ro", "nosuid", "noexec", "nodev"]})
    return mounts


def _device_bind(path: str, source: str) -> MountJSON:
    return {"destination": path, "type": "bind", "source": source, "options": ["bind", "nosuid", "noexec"]}


def device_mounts(options: SpecOptions, host: HostFacts) -> List[MountJSON]:
    """Host device nodes bound into /dev, since mknod is not allowed in a user namespace:
    the defaults, every host device with --privileged, then --device (runtime/devices.py)."""
    paths = list(DEFAULT_DEVICES)
    if options.privileged:
        paths += [path for path in host.devices if path not in DEFAULT_DEVICES]
    requested = devices.resolve_all(options.devices)
    wanted = {bind.destination for bind in requested}
    mounts = [_device_bind(path, path) for path in paths if path not in wanted]
    mounts += [_device_bind(bind.destination, bind.source) for bind in requested]
    if options.init:
        if not host.init_binary:
            raise FailedPrecondition("can't add an init process: neither catatonit nor tini-static is installed",
                                     hint="apt-get install catatonit")
        mounts.append({"destination": INIT_PATH, "type": "bind", "source": host.init_binary,
                       "options": ["bind", "ro", "nosuid", "nodev"]})
    return mounts


def _tmpfs_mount(destination: str, spec: str) -> MountJSON:
    """docker --tmpfs: noexec,nosuid,nodev unless the options say otherwise."""
    given = [o for o in spec.split(",") if o]
    negated = {"exec": "noexec", "suid": "nosuid", "dev": "nodev"}
    defaults = [d for flag, d in negated.items() if flag not in given and d not in given]
    return {"destination": destination, "type": "tmpfs", "source": "tmpfs", "options": defaults + given}


def _depth(destination: str) -> int:
    return len([p for p in destination.split("/") if p])


def user_mounts(options: SpecOptions) -> List[MountJSON]:
    """/etc files, --tmpfs and the engine's mounts, parents before children (as moby sorts them)."""
    mounts: List[MountJSON] = [
        {"destination": dest, "type": "bind", "source": src,
         "options": ["rbind", "rprivate"] + (["ro"] if options.read_only else [])}
        for dest, src in sorted(options.etc_files.items())
    ]
    mounts += [_tmpfs_mount(dest, spec) for dest, spec in sorted(options.tmpfs.items())]
    mounts += [m.to_json() for m in options.mounts]
    seen = set()
    for mount in mounts:
        destination = mount["destination"]
        if not posixpath.isabs(destination):
            raise InvalidArgument(f"invalid mount: {destination}: destination must be an absolute path")
        mount["destination"] = posixpath.normpath(destination)
        if mount["destination"] in seen:
            raise InvalidArgument(f"invalid mount: {destination}: duplicate mount point")
        seen.add(mount["destination"])
    return sorted(mounts, key=lambda m: _depth(m["destination"]))


def build_mounts(options: SpecOptions, mapping: "Mapping", host: HostFacts) -> List[MountJSON]:
    """All mounts; a user mount on a default destination (or under a replaced /dev) wins."""
    requested = user_mounts(options)
    taken = {m["destination"] for m in requested}
    defaults = default_mounts(options, mapping) + device_mounts(options, host)
    if "/dev" in taken:
        defaults = [m for m in defaults if not m["destination"].startswith("/dev/")]
    return [m for m in defaults if m["destination"] not in taken] + requested


# -- linux ---------------------------------------------------------------------------------


def validate_sysctls(sysctls: Dict[str, str], network: str, ipc: str = "private") -> Dict[str, str]:
    """Only sysctls of namespaces the container owns (moby ValidateSysctl)."""
    for key in sysctls:
        if key.startswith(("kernel.", "fs.mqueue.")) and ipc in ("host", "container"):
            raise InvalidArgument(f"invalid sysctl: {key}: the IPC namespace is "
                                  + ("the host's" if ipc == "host" else "another container's"))
        if key.startswith("net.") and network == "host":
            raise InvalidArgument(f"invalid sysctl: {key}: not allowed in the host's network namespace")
        if key.startswith("net.") and network == "container":
            raise InvalidArgument(f"invalid sysctl: {key}: the network namespace is another container's")
        if key not in SYSCTLS_ALLOWED and not key.startswith(SYSCTL_PREFIXES_ALLOWED):
            raise InvalidArgument(f"invalid sysctl: {key}: not namespaced, it would change the host")
    return dict(sysctls)


def _namespace(kind: str, mode: str, path: Optional[str]) -> List[Namespace]:
    """A new namespace, none (the daemon's: "host"), or another container's by its /proc path."""
    if mode == "host":
        return []
    if mode == "container" or path:
        if not path:
            raise FailedPrecondition(f"{kind} mode container: the engine gave no namespace to join")
        return [{"type": kind, "path": path}]
    return [{"type": kind}]


def build_namespaces(options: SpecOptions) -> List[Namespace]:
    """pid, ipc, uts, mount and network, each new, the host's (left out) or another container's
    (joined by path: crun setns()s it, the container and ours share one user namespace); never user:
    crun runs inside ours."""
    if options.pid not in PID_MODES:
        raise InvalidArgument(f"invalid PID mode: {options.pid}: expected one of {', '.join(PID_MODES)}")
    if options.ipc not in IPC_MODES:
        raise InvalidArgument(f"invalid IPC mode: {options.ipc}: expected one of {', '.join(IPC_MODES)}")
    namespaces = _namespace("pid", options.pid, options.pid_ns_path)
    namespaces += _namespace("ipc", "private" if options.ipc in ("shareable", "none") else options.ipc,
                             options.ipc_ns_path)
    namespaces += [{"type": "uts"}, {"type": "mount"}]
    namespaces += _namespace("network", "private" if options.network == "none" else options.network,
                             options.netns_path)
    if options.cgroup.limits_supported:
        namespaces.append({"type": "cgroup"})
    return namespaces


def _requested_limits(options: SpecOptions) -> List[Tuple[str, str]]:
    """(what, controller) for each resource limit the options ask for."""
    wanted = [("memory limit", "memory", options.memory), ("memory+swap limit", "memory", options.memory_swap),
              ("memory reservation", "memory", options.memory_reservation),
              ("cpu limit", "cpu", options.cpus), ("cpu shares", "cpu", options.cpu_shares),
              ("cpu quota", "cpu", options.cpu_quota), ("cpu period", "cpu", options.cpu_period),
              ("cpuset", "cpuset", options.cpuset_cpus), ("cpuset mems", "cpuset", options.cpuset_mems),
              ("pids limit", "pids", options.pids_limit), ("blkio weight", "io", options.blkio_weight)]
    return [(what, controller) for what, controller, value in wanted if value]


def _memory_resources(options: SpecOptions) -> Dict[str, int]:
    memory: Dict[str, int] = {}
    if options.memory:
        memory["limit"] = options.memory
        # docker's default without --memory-swap: as much swap as memory (memory+swap = 2x), so a
        # container over its limit is OOM-killed rather than swapping without bound
        memory["swap"] = options.memory_swap if options.memory_swap else 2 * options.memory
    if options.memory_reservation:
        memory["reservation"] = options.memory_reservation
    return memory


def _cpu_resources(options: SpecOptions) -> Dict[str, Any]:
    """--cpus sets quota and period as docker does; --cpu-quota/--cpu-period set them directly."""
    cpu: Dict[str, Any] = {}
    if options.cpus:
        cpu.update(quota=int(options.cpus * CPU_PERIOD), period=CPU_PERIOD)
    if options.cpu_quota:
        cpu["quota"] = options.cpu_quota
    if options.cpu_period:
        cpu["period"] = options.cpu_period
    if options.cpu_shares:
        cpu["shares"] = options.cpu_shares
    if options.cpuset_cpus:
        cpu["cpus"] = options.cpuset_cpus
    if options.cpuset_mems:
        cpu["mems"] = options.cpuset_mems
    return cpu


def build_resources(options: SpecOptions) -> Optional[LinuxResources]:
    """linux.resources, or a refusal when the limits can't be enforced on this host."""
    cgroup = options.cgroup
    requested = _requested_limits(options)
    for what, controller in requested:
        if not cgroup.limits_supported:
            raise FailedPrecondition(
                f"{what}: cgroups are not delegated to this user on this host "
                f"({CGROUP_MODE_WORDS.get(cgroup.mode, cgroup.mode)}): limits cannot be enforced",
                hint=cgroup.describe())
        require_controller(cgroup, what, controller)
    if not requested:
        return None
    if options.cpus and (options.cpu_quota or options.cpu_period):
        raise InvalidArgument("conflicting options: Nano CPUs and CPU Period/Quota cannot both be set")  # dockerd's
    resources: LinuxResources = {}
    memory, cpu = _memory_resources(options), _cpu_resources(options)
    if memory:
        resources["memory"] = memory
    if cpu:
        resources["cpu"] = cpu
    if options.pids_limit:
        resources["pids"] = {"limit": options.pids_limit}
    if options.blkio_weight:
        resources["blockIO"] = {"weight": options.blkio_weight}
    return resources


def update_resources(cgroup: CgroupInfo, **limits: Any) -> LinuxResources:
    """linux.resources for `docker update` (SpecOptions' limit names: memory=, cpus=, pids_limit=, ...),
    refused exactly as at create when a controller is not delegated."""
    options = SpecOptions(rootfs="", args=[], cgroup=cgroup, **limits)
    return build_resources(options) or {}


def build_linux(options: SpecOptions, security: SecurityOptions, caps: Sequence[str], host: HostFacts) -> Linux:
    """linux: namespaces, masked and read-only paths, seccomp, sysctls, resources."""
    unconfined = options.privileged or security.unconfined_paths
    masked = options.masked_paths if options.masked_paths is not None else list(MASKED_PATHS)
    readonly = options.readonly_paths if options.readonly_paths is not None else list(READONLY_PATHS)
    linux: Linux = {
        "namespaces": build_namespaces(options),
        "maskedPaths": [] if unconfined else list(masked),
        "readonlyPaths": [] if unconfined else list(readonly),
    }
    profile = build_seccomp(security, options.privileged, caps, host)
    if profile is not None:
        linux["seccomp"] = profile
    if options.sysctls:
        linux["sysctl"] = validate_sysctls(options.sysctls, options.network, options.ipc)
    resources = build_resources(options)
    if resources is not None:
        linux["resources"] = resources
    if options.cgroups_path and options.cgroup.limits_supported:
        linux["cgroupsPath"] = options.cgroups_path
    if options.uid_mappings:
        add_user_namespace(linux, options)
    propagation = rootfs_propagation(options.mounts)
    if propagation:
        linux["rootfsPropagation"] = propagation
    return linux


def rootfs_propagation(mounts: Sequence[Mount]) -> str:
    """moby's rule (daemon/oci_linux.go): a shared bind needs a shared root, a slave bind a slave one.

    crun otherwise makes the container's whole tree rprivate first, which cuts every bind off
    from its source's peers before the bind's own propagation could apply."""
    wanted = {o for m in mounts if m.type == "bind" for o in m.options}
    if wanted & {"shared", "rshared"}:
        return "shared"
    return "rslave" if wanted & {"slave", "rslave"} else ""


def add_user_namespace(linux: Linux, options: SpecOptions) -> None:
    """A user namespace nested in ours (keep-id): crun, root here, writes its maps."""
    linux["namespaces"] = [*linux["namespaces"], {"type": "user"}]
    linux["uidMappings"] = [{"containerID": c, "hostID": h, "size": n} for c, h, n in options.uid_mappings]
    linux["gidMappings"] = [{"containerID": c, "hostID": h, "size": n} for c, h, n in options.gid_mappings]


def _has_bind_mounts(options: SpecOptions) -> bool:
    return any(m.type == "bind" for m in options.mounts)


def build_spec(options: SpecOptions, mapping: "Mapping", host: Optional[HostFacts] = None) -> Spec:
    """The config.json for crun, as a JSON-ready dict."""
    if options.network not in NETWORK_MODES:
        raise InvalidArgument(f"invalid network mode: {options.network}: expected one of {', '.join(NETWORK_MODES)}")
    host = host or HostFacts.detect()
    security = parse_security_options(options.security_opt)
    no_new_privileges = options.no_new_privileges
    if security.no_new_privileges is not None:
        no_new_privileges = security.no_new_privileges
    user = users.resolve_user(options.rootfs, options.user, options.group_add)
    check_user_mapped(user, mapping)
    caps = resolve_capabilities(options.cap_add, options.cap_drop, options.privileged, host.last_cap)
    spec: Spec = {
        "ociVersion": OCI_VERSION,
        "process": build_process(options, user, caps, no_new_privileges, host),
        "root": {"path": options.rootfs, "readonly": options.read_only},
        "mounts": build_mounts(options, mapping, host),
        "linux": build_linux(options, security, caps, host),
    }
    if options.hostname:
        spec["hostname"] = options.hostname
    if options.domainname:
        spec["domainname"] = options.domainname
    if options.annotations:
        spec["annotations"] = dict(options.annotations)
    dirs = paths.hooks_dirs() if options.hooks_dirs is None else options.hooks_dirs
    definitions = hooks.load_definitions(dirs)
    found = hooks.hooks_for(definitions, spec["process"]["args"], options.annotations, _has_bind_mounts(options))
    if found:
        spec["hooks"] = found
    if options.cdi_devices:
        cdi_dirs = cdi.SPEC_DIRS if options.cdi_spec_dirs is None else tuple(options.cdi_spec_dirs)
        cdi.apply(cast(Dict[str, Any], spec), cdi.resolve(options.cdi_devices, cdi.load_devices(cdi_dirs)))
    return spec
