"""The user + mount namespace every engine process works in.

The rootlesskit parent/child pattern: a child unshares a user and a mount
namespace, the parent maps the user's uid to 0 and the subuid range above it
with newuidmap/newgidmap, and the child turns into a tiny *pause process* that
keeps the namespaces alive. Daemons join them with setns(2), so a restarted
daemon finds the mounts and containers its predecessor left (podman does the
same). setns into a user namespace needs a single-threaded process: join
before starting any thread.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from rootless.config.paths import HOST_UID_ENV, Paths
from rootless.config.subids import IdRange, lookup_user_ranges, user_name
from rootless.errors import FailedPrecondition, InvalidArgument, PermissionDenied, ToolError
from rootless.host.cgroups import CgroupInfo
from rootless.util import fs, linux, proc

logger = logging.getLogger(__name__)

PAUSE_MARKER = "rootless-pause"
# The pause process: ignore terminal signals, exit on SIGTERM, otherwise sleep.
PAUSE_CODE = (
    "import signal,sys\n"
    "for s in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGUSR1):\n"
    "    signal.signal(s, signal.SIG_IGN)\n"
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
    "while True:\n"
    "    signal.pause()\n"
)


@dataclass(frozen=True)
class IdMap:
    """One line of /proc/PID/uid_map: inside id, outside id, length."""

    inside: int
    outside: int
    count: int


@dataclass(frozen=True)
class Mapping:
    """The uid and gid maps of the engine's user namespace."""

    uids: Tuple[IdMap, ...]
    gids: Tuple[IdMap, ...]

    @property
    def single_id(self) -> bool:
        return len(self.uids) == 1 and self.uids[0].count == 1

    def to_json(self) -> Dict[str, List[List[int]]]:
        return {
            "UidMap": [[m.inside, m.outside, m.count] for m in self.uids],
            "GidMap": [[m.inside, m.outside, m.count] for m in self.gids],
        }


def compute_mapping(
    uid: int, gid: int, subuid: Optional[IdRange], subgid: Optional[IdRange]
) -> Mapping:
    """Our uid becomes 0 and the subordinate range follows from 1 on.

    Without both ranges every id collapses to the user (single-id mode).
    """
    if subuid is None or subgid is None:
        return Mapping((IdMap(0, uid, 1),), (IdMap(0, gid, 1),))
    return Mapping(
        (IdMap(0, uid, 1), IdMap(1, subuid.start, subuid.count)),
        (IdMap(0, gid, 1), IdMap(1, subgid.start, subgid.count)),
    )


def newidmap_argv(tool: str, pid: int, maps: Sequence[IdMap]) -> List[str]:
    """argv for newuidmap/newgidmap writing maps for pid."""
    argv = [tool, str(pid)]
    for m in maps:
        argv += [str(m.inside), str(m.outside), str(m.count)]
    return argv


def parse_id_map(text: str) -> Tuple[IdMap, ...]:
    """Parse the contents of /proc/PID/uid_map or gid_map."""
    maps = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            maps.append(IdMap(int(parts[0]), int(parts[1]), int(parts[2])))
    return tuple(maps)


def admin_fix_command(uid: int) -> str:
    """The command an admin runs to give this user a subordinate id range."""
    start = _free_subid_start()
    return (
        f"sudo usermod --add-subuids {start}-{start + 65535} "
        f"--add-subgids {start}-{start + 65535} {user_name(uid)}"
    )


def _free_subid_start() -> int:
    end = 100000
    for path in ("/etc/subuid", "/etc/subgid"):
        with contextlib.suppress(OSError):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    parts = line.strip().split(":")
                    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                        end = max(end, int(parts[1]) + int(parts[2]))
    return end


# -- the pause process ------------------------------------------------------

def _is_pause_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
        owner = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return False
    return PAUSE_MARKER.encode() in cmdline and owner == os.getuid()


def _write_single_map(pid: int, uid: int, gid: int) -> None:
    """Map just our own ids: allowed without newuidmap once setgroups is denied."""
    with open(f"/proc/{pid}/uid_map", "w") as f:
        f.write(f"0 {uid} 1\n")
    with open(f"/proc/{pid}/setgroups", "w") as f:
        f.write("deny\n")
    with open(f"/proc/{pid}/gid_map", "w") as f:
        f.write(f"0 {gid} 1\n")


def _map_child(pid: int, mapping: Mapping) -> None:
    if mapping.single_id:
        _write_single_map(pid, mapping.uids[0].outside, mapping.gids[0].outside)
        return
    proc.run(newidmap_argv("newuidmap", pid, mapping.uids), tool="newuidmap")
    proc.run(newidmap_argv("newgidmap", pid, mapping.gids), tool="newgidmap")


def _prepare_mounts(cgroup: CgroupInfo) -> None:
    """Runs in the new namespace: slave propagation, cgroupfs masked if needed."""
    # rslave, as rootlesskit and podman have it: host mounts made later under a bind source
    # reach the engine (and an rslave bind passes them on), while nothing mounted in here
    # (rootfs overlays, netns files, subpath stages) ever propagates back out to the host.
    linux.mount("none", "/", None, linux.MS_REC | linux.MS_SLAVE, None)
    if cgroup.needs_mask:
        # crun refuses hybrid hosts; behind an empty tmpfs it sees plain v1.
        linux.mount("tmpfs", "/sys/fs/cgroup", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "mode=755")


def _pause_child(ready_w: int, go_r: int, cgroup: CgroupInfo) -> None:
    """The forked child: unshare, wait to be mapped, then become the pause process."""
    code = 1
    try:
        os.setsid()
        linux.unshare(linux.CLONE_NEWUSER | linux.CLONE_NEWNS)
        os.write(ready_w, b"1")
        if os.read(go_r, 1) != b"1":
            os._exit(1)
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        _prepare_mounts(cgroup)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.execv(sys.executable, [sys.executable, "-S", "-c", PAUSE_CODE, PAUSE_MARKER])
    except BaseException as exc:  # the child must never return into the caller
        with contextlib.suppress(Exception):
            os.write(2, f"rootless: pause process: {exc}\n".encode())
    os._exit(code)


def _start_pause(mapping: Mapping, cgroup: CgroupInfo) -> int:
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(go_w)
        _pause_child(ready_w, go_r, cgroup)
    os.close(ready_w)
    os.close(go_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise PermissionDenied(
                "can't create user namespace: unshare failed",
                hint="run 'rootless doctor' to see what the host is missing",
            )
        _map_child(pid, mapping)
        os.write(go_w, b"1")
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(ready_r)
        os.close(go_w)
    return pid


def _wait_mounted(pid: int, cgroup: CgroupInfo, timeout: float = 5.0) -> None:
    """Wait until the pause process has exec'd (its mounts are then in place)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _is_pause_alive(pid):
            return
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            raise ToolError("pause", f"namespace set-up failed with status {status}")
        time.sleep(0.002)
    raise ToolError("pause", "namespace set-up timed out")


def ensure_pause(paths: Paths, cgroup: CgroupInfo) -> Tuple[int, Mapping]:
    """The pid of a live pause process for this user, starting one if needed."""
    paths.ensure_run_dir()
    with fs.locked(paths.namespace_lock):
        state = fs.read_json(paths.pause_pidfile) or {}
        pid = int(state.get("pid", 0))
        if pid and _is_pause_alive(pid):
            return pid, _read_mapping(pid)
        uid, gid = os.getuid(), os.getgid()
        subuid, subgid = lookup_user_ranges(uid)
        mapping = compute_mapping(uid, gid, subuid, subgid)
        if mapping.single_id:
            logger.warning(
                "no subuid/subgid range for %s: running in single-uid mode "
                "(every file owner in images collapses to you); an admin can fix this with: %s",
                user_name(uid), admin_fix_command(uid),
            )
        pid = _start_pause(mapping, cgroup)
        _wait_mounted(pid, cgroup)
        fs.atomic_write_json(paths.pause_pidfile, {"pid": pid, **mapping.to_json()}, 0o600)
        return pid, mapping


def running_pause(paths: Paths) -> List[int]:
    """The live pause process an earlier daemon left ([] if none): it moves into our cgroup scope too."""
    pid = int((fs.read_json(paths.pause_pidfile) or {}).get("pid", 0))
    return [pid] if pid and _is_pause_alive(pid) else []


def _read_mapping(pid: int) -> Mapping:
    with open(f"/proc/{pid}/uid_map") as f:
        uids = parse_id_map(f.read())
    with open(f"/proc/{pid}/gid_map") as f:
        gids = parse_id_map(f.read())
    return Mapping(uids, gids)


def join(pid: int) -> None:
    """Enter the pause process's user and mount namespaces (single-threaded only)."""
    host = os.getuid()
    user_fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    mnt_fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        linux.setns(user_fd, linux.CLONE_NEWUSER)
        linux.setns(mnt_fd, linux.CLONE_NEWNS)
    finally:
        os.close(user_fd)
        os.close(mnt_fd)
    os.environ[HOST_UID_ENV] = str(host)
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    with contextlib.suppress(PermissionError):
        os.setgroups([])
    os.chdir("/")


def in_namespace() -> bool:
    """True when this process already runs in the engine's user namespace."""
    return bool(os.environ.get(HOST_UID_ENV)) and os.getuid() == 0


def enter(paths: Paths, cgroup: CgroupInfo) -> Mapping:
    """Make sure the namespaces exist and move this process into them."""
    if in_namespace():
        with open("/proc/self/uid_map") as f:
            uids = parse_id_map(f.read())
        with open("/proc/self/gid_map") as f:
            gids = parse_id_map(f.read())
        return Mapping(uids, gids)
    pid, mapping = ensure_pause(paths, cgroup)
    join(pid)
    return mapping


def stop_pause(paths: Paths) -> bool:
    """End the namespaces: every process in them (containers, monitors) and the pause process.

    The user owns the namespace, so it may signal processes in it whatever
    subordinate uid they run as.
    """
    state = fs.read_json(paths.pause_pidfile) or {}
    pid = int(state.get("pid", 0))
    if not pid or not _is_pause_alive(pid):
        return False
    target = os.readlink(f"/proc/{pid}/ns/user")
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in (pid, os.getpid()):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{entry}/ns/user") == target:
                    os.kill(int(entry), signal.SIGKILL)
    os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(paths.pause_pidfile)
    return True


def current_mapping() -> Mapping:
    """The maps of the calling process (the engine's namespace, in the daemon)."""
    with open("/proc/self/uid_map") as f:
        uids = parse_id_map(f.read())
    with open("/proc/self/gid_map") as f:
        gids = parse_id_map(f.read())
    return Mapping(uids, gids)


def current_mapping_json() -> Dict[str, List[List[int]]]:
    """The maps of the calling process, as info shows them."""
    return current_mapping().to_json()


# -- --userns=keep-id (podman's): the user's own ids inside the container ------------------------

@dataclass(frozen=True)
class KeepId:
    """A container's user namespace nested in the engine's, with the user's ids kept.

    The engine's namespace maps its id 0 to the user and 1..N-1 to the
    subordinate range. keep-id puts container id `uid` on the engine's 0 (so on
    the user) and shifts the ids below it up by one: container 0..uid-1 are
    engine ids 1..uid, and ids above uid are the engine's same ids. podman's
    keep-id mapping, in the engine namespace's terms because crun runs there.
    """

    uid: int  # the container uid that is the user
    gid: int
    uids: Tuple[IdMap, ...]  # container id -> engine id
    gids: Tuple[IdMap, ...]


def keep_id(mapping: Mapping, uid: Optional[int] = None, gid: Optional[int] = None) -> KeepId:
    """The keep-id maps inside the engine's mapping; uid/gid default to the user's own host ids.

    Raises:
        FailedPrecondition: single-id mode (no subordinate range), or an id beyond the range.
    """
    if mapping.single_id:
        raise FailedPrecondition("--userns=keep-id: this user has no subordinate id range",
                                 hint="an admin can add one: " + admin_fix_command(os.getuid()))
    host_uid, host_gid = _outside_of_zero(mapping.uids), _outside_of_zero(mapping.gids)
    inside_uid = host_uid if uid is None else uid
    inside_gid = host_gid if gid is None else gid
    return KeepId(inside_uid, inside_gid, _shift(inside_uid, _size(mapping.uids), "uid"),
                  _shift(inside_gid, _size(mapping.gids), "gid"))


def _outside_of_zero(maps: Sequence[IdMap]) -> int:
    return next((m.outside for m in maps if m.inside == 0), 0)


def _size(maps: Sequence[IdMap]) -> int:
    """How many ids the engine's namespace has, from 0 on (its maps are contiguous)."""
    return max(m.inside + m.count for m in maps)


def _shift(kept: int, size: int, what: str) -> Tuple[IdMap, ...]:
    if not 0 <= kept < size:
        raise FailedPrecondition(f"--userns=keep-id: {what} {kept} is not below the {size} ids this user "
                                 "namespace has", hint=f"pick a smaller {what} with keep-id:{what}=N")
    maps = [IdMap(0, 1, kept)] if kept else []
    maps.append(IdMap(kept, 0, 1))
    if kept + 1 < size:
        maps.append(IdMap(kept + 1, kept + 1, size - kept - 1))
    return tuple(maps)


def parse_keep_id(mode: str) -> Tuple[Optional[int], Optional[int]]:
    """"keep-id" or "keep-id:uid=U,gid=G" -> (U, G), None where not given; InvalidArgument otherwise."""
    name, _, rest = mode.partition(":")
    if name != "keep-id":
        raise InvalidArgument(f"invalid userns mode: {mode}", hint="rootless knows keep-id[:uid=U,gid=G]")
    found: Dict[str, int] = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key not in ("uid", "gid") or not value.isdigit() or key in found:
            raise InvalidArgument(f"invalid userns mode: {mode}: {item}", hint="keep-id takes uid=N and gid=N")
        found[key] = int(value)
    return found.get("uid"), found.get("gid")
