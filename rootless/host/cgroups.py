"""What the host's cgroups allow an unprivileged user.

crun refuses "hybrid" hosts (v1 controllers plus a cgroup2 mount that holds a
controller), so on those we hide /sys/fs/cgroup in our own mount namespace and
run crun with --cgroup-manager=disabled. Limits are only enforceable on a v2
host whose cgroup the user owns with controllers delegated.

On a v2 host with systemd (a laptop) the login shell sits in session-N.scope,
which is not delegated. `place()` moves the daemon the way podman does: into a
transient scope under user@UID.service (Delegate=yes), asked of the user's
systemd over D-Bus. Containers then get their own scopes through crun's
systemd manager; without a user systemd the daemon splits its own delegated
cgroup into a leaf for itself and a parent for containers (cgroupfs).
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace
from typing import List, Mapping, Optional, Sequence, Tuple

from rootless.config.paths import HOST_UID_ENV
from rootless.errors import FailedPrecondition
from rootless.util import proc as util_proc

logger = logging.getLogger(__name__)

V1, V2, HYBRID, NONE = "v1", "v2", "hybrid", "none"
SYSTEMD, CGROUPFS, DISABLED = "systemd", "cgroupfs", "disabled"
MANAGER_ENV = "ROOTLESS_CGROUP_MANAGER"  # force "cgroupfs" (or "systemd") instead of the automatic choice
DELEGATE_FIX = ("sudo mkdir -p /etc/systemd/system/user@.service.d && printf '[Service]\\nDelegate=cpu cpuset io "
                "memory pids\\n' | sudo tee /etc/systemd/system/user@.service.d/delegate.conf && "
                "sudo systemctl daemon-reload  (then log out and in again)")


@dataclass(frozen=True)
class CgroupInfo:
    """The detected cgroup mode and what it means for containers."""

    mode: str
    controllers: List[str] = field(default_factory=list)
    own_path: str = ""
    writable: bool = False
    cgroup_manager: str = ""  # set by place(): systemd | cgroupfs | disabled; "" = from limits_supported
    parent: str = ""  # cgroupfs: the cgroup containers are made in; systemd: the slice ("user.slice")
    uid: int = -1

    @property
    def needs_mask(self) -> bool:
        """crun cannot cope with this host's layout unless we hide it."""
        return self.mode == HYBRID

    @property
    def manager(self) -> str:
        """The --cgroup-manager crun gets."""
        if self.cgroup_manager:
            return self.cgroup_manager if self.limits_supported else DISABLED
        return CGROUPFS if self.limits_supported else DISABLED

    @property
    def limits_supported(self) -> bool:
        return self.mode == V2 and self.writable and bool(self.controllers)

    def describe(self) -> str:
        if self.limits_supported:
            return (f"limits enforced with delegated controllers: {' '.join(self.controllers)} "
                    f"(manager: {self.manager})")
        if self.mode == V2:
            return "no controllers delegated to this user: --memory, --cpus, pause and stats are refused"
        if self.mode == HYBRID:
            return ("hybrid v1/v2 host: /sys/fs/cgroup is masked for crun; "
                    "--memory, --cpus, pause and stats are refused")
        return "cgroup v1 cannot be delegated to users: --memory, --cpus, pause and stats are refused"

    @property
    def fix(self) -> str:
        """The one change that lets this host enforce limits."""
        if self.mode == V2:
            return DELEGATE_FIX
        return "boot with systemd.unified_cgroup_hierarchy=1 to get cgroup v2 (limits need it)"


# Docker's HostConfig limit fields and the v2 controller each needs.
FIELD_CONTROLLERS = {"Memory": "memory", "MemorySwap": "memory", "MemoryReservation": "memory", "NanoCpus": "cpu",
                     "CpuQuota": "cpu", "CpuPeriod": "cpu", "CpuShares": "cpu", "CpusetCpus": "cpuset",
                     "CpusetMems": "cpuset", "PidsLimit": "pids", "BlkioWeight": "io"}


def require_controller(info: CgroupInfo, what: str, controller: str) -> None:
    """Refuse a limit whose controller this user's cgroup did not get, with the one fix."""
    if controller not in info.controllers:
        raise FailedPrecondition(f"{what}: the {controller} controller is not delegated to this user",
                                 hint=f"delegated: {' '.join(info.controllers) or 'none'}; fix: {info.fix}")


def parse_mounts(mountinfo: str) -> List[Tuple[str, str, str]]:
    """(mount point, fs type, super options) for every line of /proc/self/mountinfo."""
    mounts = []
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        tail = right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        mounts.append((fields[4].replace("\\040", " "), tail[0], tail[2]))
    return mounts


def parse_own_cgroup(proc_cgroup: str) -> str:
    """The v2 path of a process from /proc/PID/cgroup ("0::/path")."""
    for line in proc_cgroup.splitlines():
        if line.startswith("0::"):
            return line[3:]
    return ""


def detect_mode(mounts: List[Tuple[str, str, str]], unified_controllers: str) -> str:
    """Classify the cgroup layout from the mount table."""
    by_point = {point: fstype for point, fstype, _ in mounts}
    if by_point.get("/sys/fs/cgroup") == "cgroup2":
        return V2
    has_v1 = any(fstype == "cgroup" for _, fstype, _ in mounts)
    has_v2 = any(fstype == "cgroup2" for _, fstype, _ in mounts)
    if has_v1 and has_v2 and unified_controllers.strip():
        return HYBRID
    if has_v1:
        return V1
    return V2 if has_v2 else NONE


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def detect(proc: str = "/proc", sysfs: str = "/sys/fs/cgroup", uid: Optional[int] = None) -> CgroupInfo:
    """Inspect this host (or fixture dirs standing in for /proc and /sys/fs/cgroup)."""
    mounts = parse_mounts(_read(os.path.join(proc, "self", "mountinfo")))
    unified = [p for p, fstype, _ in mounts if fstype == "cgroup2"]
    unified_controllers = ""
    if unified and unified[0] != "/sys/fs/cgroup":
        rel = os.path.relpath(unified[0], "/sys/fs/cgroup")
        unified_controllers = _read(os.path.join(sysfs, rel, "cgroup.controllers"))
    mode = detect_mode(mounts, unified_controllers)
    if mode != V2:
        return CgroupInfo(mode=mode)
    own = parse_own_cgroup(_read(os.path.join(proc, "self", "cgroup")))
    own_dir = os.path.join(sysfs, own.lstrip("/"))
    controllers = _read(os.path.join(own_dir, "cgroup.controllers")).split()
    uid = os.getuid() if uid is None else uid
    try:
        writable = os.stat(own_dir).st_uid == uid and os.access(own_dir, os.W_OK)
    except OSError:
        writable = False
    return CgroupInfo(mode=mode, controllers=controllers, own_path=own, writable=writable)


# -- v2 with systemd: where the daemon and its containers go -----------------------------

DAEMON_LEAF, CONTAINERS = "rootlessd", "containers"  # cgroupfs: the daemon's leaf, the containers' parent
SCOPE_WAIT_SECONDS = 10.0  # the user's systemd moves us asynchronously; slow under emulation


def user_service_path(uid: int) -> str:
    """The cgroup of the user's systemd instance, which holds what it delegates."""
    return f"/user.slice/user-{uid}.slice/user@{uid}.service"


def in_user_manager(own: str, uid: int) -> bool:
    """True when a cgroup lies under user@UID.service (the user's systemd owns it)."""
    base = user_service_path(uid)
    return own == base or own.startswith(base + "/")


def user_bus_path(env: Mapping[str, str]) -> str:
    """The socket of the user's D-Bus (DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus), or ""."""
    for address in env.get("DBUS_SESSION_BUS_ADDRESS", "").split(";"):
        kind, _, params = address.partition(":")
        if kind != "unix":
            continue
        for param in params.split(","):
            key, _, value = param.partition("=")
            if key == "path":
                return value
    run = env.get("XDG_RUNTIME_DIR", "")
    return os.path.join(run, "bus") if run else ""


def systemd_booted(run: str = "/run") -> bool:
    """sd_booted(): systemd is PID 1 exactly when /run/systemd/system exists."""
    return os.path.isdir(os.path.join(run, "systemd", "system"))


def delegated_to_user(uid: int, sysfs: str = "/sys/fs/cgroup") -> List[str]:
    """The controllers user@UID.service may hand out (what Delegate= gave it)."""
    return _read(os.path.join(sysfs, user_service_path(uid).lstrip("/"), "cgroup.controllers")).split()


def user_bus(env: Optional[Mapping[str, str]] = None) -> str:
    """The user's bus socket when systemd runs this host and the socket exists, else ""."""
    path = user_bus_path(os.environ if env is None else env)
    return path if path and systemd_booted() and os.path.exists(path) else ""


def scope_argv(name: str, pids: Sequence[int]) -> List[str]:
    """busctl's StartTransientUnit: a Delegate=yes scope holding pids (podman's RunUnderSystemdScope)."""
    return ["busctl", "--user", "--quiet", "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager", "StartTransientUnit", "ssa(sv)a(sa(sv))", name, "fail",
            "4", "PIDs", "au", str(len(pids)), *[str(pid) for pid in pids], "Delegate", "b", "true",
            "CollectMode", "s", "inactive-or-failed", "Description", "s", "rootless daemon", "0"]


def move_to_scope(bus: str, pids: Sequence[int], uid: int) -> bool:
    """Ask the user's systemd for a scope with these pids; True once this process is in it."""
    name = f"rootlessd-{os.getpid()}.scope"
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={bus}"}
    result = util_proc.run(scope_argv(name, pids), env=env, check=False, timeout=30)
    if result.returncode != 0:
        logger.warning("can't move into a systemd scope: busctl: %s", result.stderr.decode(errors="replace").strip())
        return False
    deadline = time.monotonic() + SCOPE_WAIT_SECONDS
    while time.monotonic() < deadline:
        if in_user_manager(parse_own_cgroup(_read("/proc/self/cgroup")), uid):
            logger.info("moved into %s under %s", name, user_service_path(uid))
            return True
        time.sleep(0.1)
    logger.warning("systemd accepted %s but did not move us into it within %ss", name, SCOPE_WAIT_SECONDS)
    return False


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def split_for_containers(own_dir: str) -> List[str]:
    """cgroupfs: move every process of own_dir into a leaf and enable controllers for a containers parent.

    cgroup v2's "no internal processes" rule: a cgroup that hands controllers
    to children can hold no processes itself. Returns the controllers the
    containers parent got.
    """
    leaf, parent = os.path.join(own_dir, DAEMON_LEAF), os.path.join(own_dir, CONTAINERS)
    os.makedirs(leaf, exist_ok=True)
    os.makedirs(parent, exist_ok=True)
    for pid in _read(os.path.join(own_dir, "cgroup.procs")).split():
        try:
            _write(os.path.join(leaf, "cgroup.procs"), pid)
        except ProcessLookupError:
            continue  # exited meanwhile
    for directory in (own_dir, parent):
        for controller in _read(os.path.join(directory, "cgroup.controllers")).split():
            try:
                _write(os.path.join(directory, "cgroup.subtree_control"), f"+{controller}")
            except OSError as exc:  # e.g. cpuset busy; the controller is then simply not offered
                logger.warning("can't enable %s in %s: %s", controller, directory, exc.strerror)
    return _read(os.path.join(parent, "cgroup.controllers")).split()


def _cgroupfs(info: CgroupInfo, sysfs: str) -> CgroupInfo:
    """The daemon's own delegated cgroup, split into its leaf and the containers' parent."""
    own = info.own_path
    if os.path.basename(own) == DAEMON_LEAF:  # already split (a parent process did it)
        own = os.path.dirname(own)
    try:
        controllers = split_for_containers(os.path.join(sysfs, own.lstrip("/")))
    except OSError as exc:
        logger.warning("can't make a cgroup for containers in %s: %s", own, exc)
        return replace(info, cgroup_manager=DISABLED)
    return replace(info, own_path=f"{own}/{DAEMON_LEAF}", parent=f"{own}/{CONTAINERS}",
                   controllers=controllers, cgroup_manager=CGROUPFS)


def _systemd(info: CgroupInfo, bus: str, sysfs: str) -> CgroupInfo:
    """crun's systemd manager: a scope per container in the user's user.slice."""
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={bus}"  # crun (and sd-bus) find the bus by it
    service_dir = os.path.join(sysfs, user_service_path(info.uid).lstrip("/"))
    try:
        writable = os.stat(service_dir).st_uid == info.uid
    except OSError:
        writable = False
    return replace(info, cgroup_manager=SYSTEMD, parent="user.slice", writable=writable,
                   controllers=delegated_to_user(info.uid, sysfs))


def place(extra_pids: Sequence[int] = (), sysfs: str = "/sys/fs/cgroup") -> CgroupInfo:
    """Detect the host and, on v2, put the daemon where its containers can get limits.

    Runs in the daemon before it enters its namespaces and before it starts
    any helper, so the pause process and zygote are born in the right cgroup.
    extra_pids (a pause process left by an earlier daemon) are moved along.
    """
    uid = os.getuid()
    info = replace(detect(sysfs=sysfs, uid=uid), uid=uid)
    if uid == 0 and os.environ.get(HOST_UID_ENV):  # already inside the engine's namespace (rootless unshare)
        return info
    if info.mode != V2:
        return info
    forced = os.environ.get(MANAGER_ENV, "")
    bus = user_bus()
    if bus and not in_user_manager(info.own_path, uid):
        if move_to_scope(bus, [os.getpid(), *extra_pids], uid):
            info = replace(detect(sysfs=sysfs, uid=uid), uid=uid)
    if forced != CGROUPFS and bus and in_user_manager(info.own_path, uid):
        return _systemd(info, bus, sysfs)
    if forced == SYSTEMD:
        logger.warning("%s=systemd but the user's systemd does not answer: using cgroupfs", MANAGER_ENV)
    if info.writable and info.controllers:
        return _cgroupfs(info, sysfs)
    return info
