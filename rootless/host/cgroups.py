"""What the host's cgroups allow an unprivileged user.

crun refuses "hybrid" hosts (v1 controllers plus a cgroup2 mount that holds a
controller), so on those we hide /sys/fs/cgroup in our own mount namespace and
run crun with --cgroup-manager=disabled. Limits are only enforceable on a v2
host whose cgroup the user owns with controllers delegated.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

V1, V2, HYBRID, NONE = "v1", "v2", "hybrid", "none"


@dataclass(frozen=True)
class CgroupInfo:
    """The detected cgroup mode and what it means for containers."""

    mode: str
    controllers: List[str] = field(default_factory=list)
    own_path: str = ""
    writable: bool = False

    @property
    def needs_mask(self) -> bool:
        """crun cannot cope with this host's layout unless we hide it."""
        return self.mode == HYBRID

    @property
    def manager(self) -> str:
        """The --cgroup-manager crun gets."""
        return "cgroupfs" if self.limits_supported else "disabled"

    @property
    def limits_supported(self) -> bool:
        return self.mode == V2 and self.writable and bool(self.controllers)

    def describe(self) -> str:
        if self.limits_supported:
            return f"limits enforced with delegated controllers: {' '.join(self.controllers)}"
        if self.mode == V2:
            return "no controllers delegated to this user: --memory, --cpus, pause and stats are refused"
        if self.mode == HYBRID:
            return ("hybrid v1/v2 host: /sys/fs/cgroup is masked for crun; "
                    "--memory, --cpus, pause and stats are refused")
        return "cgroup v1 cannot be delegated to users: --memory, --cpus, pause and stats are refused"


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
