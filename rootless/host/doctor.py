"""Host checks behind `rootless doctor`: each finds one problem and its fix.

These run in the CLI, outside the daemon, because the daemon cannot start
on a host with exactly these problems.
"""
from __future__ import annotations

import contextlib
import os
import stat
import sys
from dataclasses import dataclass
from typing import Callable, List, Mapping, Optional

from rootless.config.paths import Paths, default_storage_root
from rootless.config.subids import lookup_ranges, user_name
from rootless.config.settings import load_settings
from rootless.errors import PermissionDenied, RootlessError
from rootless.host import cgroups
from rootless.host.userns import admin_fix_command
from rootless.util import fs, linux, proc

MIN_SUBID_COUNT = 65536


@dataclass(frozen=True)
class Check:
    """The outcome of one check: ok, warn or fail, with a fix for the last two."""

    name: str
    status: str
    detail: str
    fix: Optional[str] = None


@dataclass(frozen=True)
class HostRoots:
    """Where the checks read the host: the real paths, or fixture dirs standing in for them."""

    proc: str = "/proc"
    cgroup: str = "/sys/fs/cgroup"
    run: str = "/run"
    linger: str = "/var/lib/systemd/linger"  # logind's record of `loginctl enable-linger`

    def sysctl(self, name: str) -> Optional[str]:
        """kernel.foo -> the value in /proc/sys/kernel/foo, None when there is no such sysctl."""
        try:
            with open(os.path.join(self.proc, "sys", *name.split("."))) as f:
                return f.read().strip()
        except OSError:
            return None


HOST = HostRoots()
PROBE_OK, PROBE_UNSHARE, PROBE_CAPS = "ok", "unshare refused", "no capabilities"


def probe_userns() -> str:
    """Fork a child that makes a user and mount namespace and uses CAP_SYS_ADMIN in it.

    unshare alone is not enough: under Ubuntu's AppArmor restriction it succeeds
    and the namespace comes without capabilities, so mounts fail later.
    """
    pid = os.fork()
    if pid == 0:
        code = 1
        with contextlib.suppress(BaseException):
            linux.unshare(linux.CLONE_NEWUSER | linux.CLONE_NEWNS)
            code = 2
            linux.mount("none", "/", None, linux.MS_REC | linux.MS_PRIVATE, None)
            code = 0
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1
    return {0: PROBE_OK, 2: PROBE_CAPS}.get(code, PROBE_UNSHARE)


def check_userns(roots: HostRoots = HOST, probe: Callable[[], str] = probe_userns,
                 interpreter: Optional[str] = None) -> Check:
    if roots.sysctl("kernel.unprivileged_userns_clone") == "0":
        return Check("user namespaces", "fail", "disabled by kernel.unprivileged_userns_clone=0",
                     "sudo sysctl -w kernel.unprivileged_userns_clone=1")
    if roots.sysctl("user.max_user_namespaces") == "0":
        return Check("user namespaces", "fail", "user.max_user_namespaces is 0",
                     "sudo sysctl -w user.max_user_namespaces=28633")
    restricted = roots.sysctl(APPARMOR_USERNS_SYSCTL) == "1"
    return userns_outcome(probe(), restricted, interpreter or os.path.realpath(sys.executable))


APPARMOR_USERNS_SYSCTL = "kernel.apparmor_restrict_unprivileged_userns"
APPARMOR_PROFILE = "/etc/apparmor.d/rootless"


def apparmor_profile_fix(interpreter: str) -> str:
    """Ubuntu's own answer (as its profiles for crun, podman and slirp4netns): a profile that lets the
    program that makes the namespace, here the Python running rootlessd, create user namespaces."""
    profile = (f"abi <abi/4.0>,\\ninclude <tunables/global>\\nprofile rootless {interpreter} flags=(unconfined) {{\\n"
               "  userns,\\n  include if exists <local/rootless>\\n}\\n")
    return (f"printf '{profile}' | sudo tee {APPARMOR_PROFILE} && sudo apparmor_parser -r {APPARMOR_PROFILE}  "
            f"(or, for every program: sudo sysctl -w {APPARMOR_USERNS_SYSCTL}=0)")


def userns_outcome(probe: str, apparmor_restricts: bool, interpreter: str) -> Check:
    """The probe's result read with the AppArmor sysctl (Ubuntu 23.10+/24.04): under it unshare
    succeeds but the namespace has no capabilities, so newuidmap's mapping, mounts and crun fail."""
    name = "user namespaces"
    if probe == PROBE_OK:
        if apparmor_restricts:
            return Check(name, "ok", f"AppArmor restricts unprivileged user namespaces; a profile allows {interpreter}")
        return Check(name, "ok", "unprivileged user namespaces work")
    if apparmor_restricts:
        return Check(name, "fail", f"AppArmor restricts unprivileged user namespaces ({APPARMOR_USERNS_SYSCTL}=1): "
                     f"a namespace made by {interpreter} gets no capabilities", apparmor_profile_fix(interpreter))
    if probe == PROBE_CAPS:
        return Check(name, "fail", "a new user namespace gets no capabilities (mount refused in it)",
                     "ask an admin which security module restricts unprivileged user namespaces")
    return Check(name, "fail", "unshare(CLONE_NEWUSER) was refused",
                 "ask an admin to allow unprivileged user namespaces")


def _has_file_caps(path: str) -> bool:
    try:
        return bool(os.getxattr(path, "security.capability"))
    except OSError:
        return False


def check_idmap_tool(tool: str) -> Check:
    path = proc.which(tool)
    if path is None:
        return Check(tool, "fail", "not installed", "sudo apt-get install uidmap")
    mode = os.stat(path).st_mode
    if not (mode & stat.S_ISUID) and not _has_file_caps(path):
        return Check(tool, "fail", f"{path} is neither setuid nor has file capabilities",
                     f"sudo chmod u+s {path}")
    return Check(tool, "ok", path)


def check_subids(uid: int, path: str, kind: str) -> Check:
    ranges = lookup_ranges(path, uid)
    name = f"{kind} range"
    if not ranges:
        return Check(name, "fail", f"no entry for {user_name(uid)} in {path} (single-uid mode only)",
                     admin_fix_command(uid))
    total = sum(r.count for r in ranges)
    if total < MIN_SUBID_COUNT:
        return Check(name, "warn", f"only {total} ids in {path}; images with high uids will fail",
                     admin_fix_command(uid))
    first = ranges[0]
    return Check(name, "ok", f"{first.start}-{first.start + first.count - 1} ({first.count} ids)")


def check_device(path: str, needed_by: str) -> Check:
    if not os.path.exists(path):
        return Check(path, "fail", f"missing (needed by {needed_by})",
                     f"sudo modprobe {'tun' if 'tun' in path else 'fuse'}")
    if not os.access(path, os.R_OK | os.W_OK):
        return Check(path, "fail", f"not readable and writable by you (needed by {needed_by})",
                     f"sudo chmod 0666 {path}")
    return Check(path, "ok", "usable")


WANTED_CONTROLLERS = ("cpu", "cpuset", "io", "memory", "pids")  # what docker's flags need


def systemd_cgroup_check(uid: int, delegated: List[str]) -> Check:
    """v2 with a user systemd: the daemon moves into a scope under user@UID.service, so what
    that service got by Delegate= is what containers can be limited by."""
    missing = [c for c in WANTED_CONTROLLERS if c not in delegated]
    where = f"user@{uid}.service"
    if not delegated:
        return Check("cgroups", "warn", f"v2 with systemd: no controllers delegated to {where}: "
                     "--memory, --cpus, --pids-limit, pause and stats are refused", cgroups.DELEGATE_FIX)
    if missing:
        return Check("cgroups", "warn", f"v2 with systemd: {where} delegates {' '.join(delegated)}; "
                     f"limits needing {' '.join(missing)} are refused", cgroups.DELEGATE_FIX)
    return Check("cgroups", "ok", f"v2 with systemd (manager: systemd): {where} delegates {' '.join(delegated)}")


def check_cgroups(roots: HostRoots = HOST, env: Optional[Mapping[str, str]] = None,
                  uid: Optional[int] = None) -> Check:
    env = os.environ if env is None else env
    uid = os.getuid() if uid is None else uid
    info = cgroups.detect(roots.proc, roots.cgroup, uid)
    if info.mode == cgroups.V2 and cgroups.systemd_booted(roots.run):
        bus = cgroups.user_bus_path(env)
        if bus and os.path.exists(bus):
            return systemd_cgroup_check(uid, cgroups.delegated_to_user(uid, roots.cgroup))
        if not info.limits_supported:
            return no_user_bus_check(uid, user_name(uid), bus)
    if info.limits_supported:
        return Check("cgroups", "ok", f"{info.mode}: {info.describe()}")
    return Check("cgroups", "warn", f"{info.mode}: {info.describe()}", info.fix if info.mode != cgroups.NONE else None)


def no_user_bus_check(uid: int, name: str, bus: str) -> Check:
    """v2 with systemd, but the daemon could not reach the user's systemd to get a delegated scope."""
    refused = "limits, pause and stats are refused"
    if not bus:
        return Check("cgroups", "warn", "v2 with systemd, but this shell has no login session (su or sudo -u?): "
                     f"no XDG_RUNTIME_DIR, so rootlessd can't reach your systemd; {refused}",
                     f"log in as {name} (ssh, a desktop, or: sudo machinectl shell {name}@)")
    return Check("cgroups", "warn", f"v2 with systemd, but your systemd's D-Bus ({bus}) is missing, so "
                 f"rootlessd can't get a delegated scope under user@{uid}.service; {refused}",
                 "sudo apt-get install dbus-user-session  (then log out and in again)")


def linger_check(name: str, lingering: bool) -> Check:
    """Without linger, logind stops user@UID.service at logout (and KillUserProcesses=yes
    kills the session): the daemon's scope and every container go with it."""
    if lingering:
        return Check("linger", "ok", f"{name} lingers: containers outlive your sessions")
    return Check("linger", "warn", "no linger: your containers stop when you log out",
                 f"sudo loginctl enable-linger {name}")


def check_linger(roots: HostRoots = HOST, name: Optional[str] = None) -> Optional[Check]:
    """What `loginctl show-user NAME -p Linger` says, read from logind's file (no D-Bus call)."""
    if not cgroups.systemd_booted(roots.run):
        return None
    name = name or user_name(os.getuid())
    return linger_check(name, os.path.exists(os.path.join(roots.linger, name)))


def _existing_parent(path: str) -> str:
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    return path or "/"


def check_storage(root: str) -> Check:
    """Where the store goes (issue 15): statfs here; the daemon also probes a chown to a subordinate id."""
    from rootless.host.placement import describe_default

    explicit = os.path.abspath(root) != os.path.abspath(default_storage_root(os.environ))
    target, note = describe_default(root, explicit, os.environ, os.getuid())
    placed = _daemon_placement(root)
    if placed:  # the daemon's decision also has the probe's answer
        return Check("storage", "warn", f"{placed} (as rootlessd decided)",
                     "nothing to do on a compute node; set ROOTLESS_ROOT to a local disk to choose the place")
    if note and explicit:
        return Check("storage", "fail", note,
                     f"unset ROOTLESS_ROOT / storage_root to use node-local storage, or: export ROOTLESS_ROOT="
                     f"/tmp/{user_name(os.getuid())}/rootless  # a local disk")
    if note and target.startswith("("):
        return Check("storage", "fail", note, "export TMPDIR=/path/on/a/local/disk")
    if note:
        return Check("storage", "warn", note, "nothing to do on a compute node; set ROOTLESS_ROOT to a local "
                     "disk to choose the place yourself")
    existing = _existing_parent(root)
    if not os.access(existing, os.W_OK):
        return Check("storage", "fail", f"{existing} is not writable by you", "export ROOTLESS_ROOT=$HOME/rootless")
    return Check("storage", "ok", f"{root} on {_fs_type(existing)} (a chown to a subordinate id is tried "
                 "when the daemon starts)")


def _daemon_placement(root: str) -> str:
    """The note of the daemon that last started for this root, when it moved the store."""
    with contextlib.suppress(PermissionDenied, OSError):
        paths = Paths.from_env(root)
        if paths.has_run_dir():
            record = fs.read_json(paths.storage_placement) or {}
            if isinstance(record, dict) and record.get("requested") == paths.root:
                return str(record.get("note") or "")
    return ""


def _fs_type(target: str) -> str:
    fstype, best = "unknown", ""
    with contextlib.suppress(OSError):
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                point = parts[1]
                if (target == point or target.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                    best, fstype = point, parts[2]
    return fstype


def check_tool(tool: str, package: str, needed: bool, purpose: str) -> Check:
    path = proc.which(tool)
    if path:
        return Check(tool, "ok", path)
    return Check(tool, "fail" if needed else "warn", f"not installed ({purpose})",
                 f"sudo apt-get install {package}")


SQUASHFS_TOOLS = (("mksquashfs", "squashfs-tools"), ("squashfuse", "squashfuse"))


def check_squashfs_tools(image_format: str, site_stores: List[str],
                         which: Callable[[str], Optional[str]] = proc.which) -> Optional[Check]:
    """mksquashfs and squashfuse, when images are kept as squashfs files or site stores are configured."""
    if image_format != "squashfs" and not site_stores:
        return None
    # Site images are only mounted; images of the user's kept as files are made too.
    why = 'image_format = "squashfs"' if image_format == "squashfs" else "additional_image_stores"
    tools = SQUASHFS_TOOLS if image_format == "squashfs" else SQUASHFS_TOOLS[1:]
    missing = [(tool, package) for tool, package in tools if which(tool) is None]
    if not missing:
        return Check("squashfs", "ok", f"{' and '.join(t for t, _ in tools)} installed ({why})")
    packages = " ".join(package for _, package in missing)
    return Check("squashfs", "warn", f"{' and '.join(tool for tool, _ in missing)} not installed: "
                 f"{why} needs them to make and run squashfs images", f"sudo apt-get install {packages}")


def _configured_squashfs() -> Optional[Check]:
    try:
        settings = load_settings()
    except RootlessError:  # the CLI reports a bad config file itself
        return None
    return check_squashfs_tools(settings.image_format, settings.additional_image_stores)


def check_runtime_dir() -> Check:
    paths = Paths.from_env()
    try:
        exists = paths.has_run_dir()
    except PermissionDenied as exc:
        return Check("runtime dir", "fail", exc.message, exc.hint)
    return Check("runtime dir", "ok", paths.run if exists else f"{paths.run} (created on first use, 0700)")


def run_checks(storage_root: str) -> List[Check]:
    """Every check, in the order a user should fix them."""
    uid = os.getuid()
    checks: List[Callable[[], Optional[Check]]] = [
        check_userns,
        lambda: check_idmap_tool("newuidmap"),
        lambda: check_idmap_tool("newgidmap"),
        lambda: check_subids(uid, "/etc/subuid", "subuid"),
        lambda: check_subids(uid, "/etc/subgid", "subgid"),
        lambda: check_tool("crun", "crun", True, "the OCI runtime"),
        lambda: check_tool("slirp4netns", "slirp4netns", False, "container networking"),
        # the shared network namespace of the default bridge and user networks
        lambda: check_tool("nft", "nftables", True, "the default bridge and user networks"),
        lambda: check_tool("ip", "iproute2", True, "the default bridge and user networks"),
        lambda: check_tool("fuse-overlayfs", "fuse-overlayfs", False, "overlay fallback"),
        lambda: check_device("/dev/net/tun", "slirp4netns"),
        lambda: check_device("/dev/fuse", "fuse-overlayfs"),
        check_cgroups,
        check_linger,
        lambda: check_storage(storage_root),
        check_runtime_dir,
        _configured_squashfs,
    ]
    return [found for found in (check() for check in checks) if found is not None]
