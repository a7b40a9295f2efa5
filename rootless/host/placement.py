"""Where the store may live: never silently on a filesystem that can't hold subordinate ids (issue 15).

HPC homes are on NFS, Lustre, GPFS or BeeGFS. A user namespace can't chown
files there to its subordinate ids (the server checks the real uid), and a
parallel filesystem's metadata server suffers from 10k-file image layers.
Two tests, both needed: the statfs magic names the known shared filesystems
before anything is created there, and a probe file chowned to a subordinate
id from inside the namespace catches the rest (FUSE mounts, vfat, squashing
servers). A default root that fails either moves to node-local storage; an
explicit one is refused with the fix, except in single-uid mode, where no
file needs a subordinate owner (docs: README "HPC").

Bases are checked outside the namespace (there another user's dirs and
root's both appear as the overflow uid); the store dir itself and the probe
run inside it.
"""
from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass, field
from typing import Callable, List, Mapping, Optional, Tuple

from rootless.config.paths import check_run_dir
from rootless.config.subids import user_name
from rootless.errors import FailedPrecondition, PermissionDenied
from rootless.util import linux

SHARED_MAGICS = linux.SHARED_FS_MAGICS
statfs_type = linux.statfs_type
existing_parent = linux.existing_parent
STORE_DIR = "rootless-store"
PROBE_UID = 1  # the first subordinate id: uid 1 in the namespace maps to the range's start

StatfsType = Callable[[str], int]
Probe = Callable[[str], Optional[str]]


def shared_fs_name(path: str, fs_type: StatfsType = statfs_type) -> Optional[str]:
    """The name of the shared filesystem that holds path (or would hold it), else None."""
    try:
        magic = fs_type(existing_parent(path))
    except OSError:
        return None
    return SHARED_MAGICS.get(magic)


def probe_chown(directory: str, uid: int = PROBE_UID) -> Optional[str]:
    """None when a file in directory can belong to a subordinate id; else why not.

    Run inside the namespace: there uid 1 is the first subordinate id.
    """
    path = os.path.join(directory, f".owner-probe-{os.getpid()}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        return f"can't create a file there: {exc.strerror}"
    try:
        os.fchown(fd, uid, uid)
        owner = os.fstat(fd)
        if (owner.st_uid, owner.st_gid) != (uid, uid):
            return f"chown to subordinate id {uid} was ignored (the file stays {owner.st_uid}:{owner.st_gid})"
        return None
    except OSError as exc:
        return f"can't chown a file to subordinate id {uid}: {exc.strerror}"
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)


@dataclass(frozen=True)
class StoragePlan:
    """Made outside the namespace: the root asked for and the node-local stores that may replace it."""

    requested: str
    explicit: bool
    shared: Optional[str]  # the shared filesystem the requested root is on, if known by magic
    fallbacks: Tuple[str, ...] = ()
    rejected: Tuple[str, ...] = field(default=())  # "path: why not", for the error when none fits


@dataclass(frozen=True)
class Placement:
    """The store's root and, when it is not the one asked for (or is a shared one), why."""

    root: str
    note: str = ""


def _base_is_safe(base: str, euid: int) -> Optional[str]:
    """None when other users can't replace what we create in base (ours, or root's and sticky)."""
    try:
        info = os.stat(base)
    except OSError as exc:
        return exc.strerror or "missing"
    if not stat.S_ISDIR(info.st_mode):
        return "not a directory"
    if info.st_uid not in (euid, 0):
        return f"owned by uid {info.st_uid}"
    if info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
        return f"mode {stat.S_IMODE(info.st_mode):04o} lets other users replace entries"
    return None


def local_candidates(env: Mapping[str, str], uid: int) -> List[str]:
    """Node-local store dirs in order of preference: $TMPDIR, /tmp/$USER, /tmp, /local/$USER."""
    name = user_name(uid)
    bases: List[Tuple[str, str]] = []
    tmpdir = env.get("TMPDIR", "")
    if os.path.isabs(tmpdir) and os.path.normpath(tmpdir) != "/tmp":
        bases.append((tmpdir, f"{STORE_DIR}-{uid}"))
    bases += [(f"/tmp/{name}", STORE_DIR), ("/tmp", f"{STORE_DIR}-{uid}"), (f"/local/{name}", STORE_DIR)]
    return [os.path.join(base, leaf) for base, leaf in bases]


def plan_storage(requested: str, explicit: bool, env: Mapping[str, str], uid: int,
                 fs_type: StatfsType = statfs_type) -> StoragePlan:
    """Outside the namespace: the requested root's filesystem and the safe node-local fallbacks."""
    fallbacks: List[str] = []
    rejected: List[str] = []
    for path in local_candidates(env, uid):
        reason = _base_is_safe(os.path.dirname(path), os.geteuid())
        shared = None if reason else shared_fs_name(path, fs_type)
        reason = reason or (f"on {shared}" if shared else None)
        if reason:
            rejected.append(f"{path}: {reason}")
        else:
            fallbacks.append(path)
    return StoragePlan(requested, explicit, shared_fs_name(requested, fs_type), tuple(fallbacks), tuple(rejected))


def _problem(path: str, shared: Optional[str], single_id: bool, probe: Probe) -> Optional[str]:
    """Why path can't hold the store, or None; creates path (0700) to probe it."""
    if shared:
        return f"is on {shared}, a shared filesystem that can't hold files owned by subordinate ids"
    if single_id:
        return None  # nothing to probe: every file belongs to the user
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as exc:
        return f"can't be created: {exc.strerror}"
    reason = probe(path)
    return f"is on a filesystem that can't hold files owned by subordinate ids ({reason})" if reason else None


def _make_local(path: str) -> Optional[str]:
    """Create a node-local store dir 0700 and refuse one another user made (check_run_dir's checks)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        return f"can't be created: {exc.strerror}"
    try:
        check_run_dir(path)
    except PermissionDenied as exc:
        return exc.message
    return None


def choose_storage(plan: StoragePlan, single_id: bool, probe: Probe = probe_chown) -> Placement:
    """Inside the namespace: the requested root if it can hold the store, else the first node-local one.

    Raises:
        FailedPrecondition: an explicit root on a shared filesystem (with subordinate ids),
            or no node-local dir fits.
    """
    problem = _problem(plan.requested, plan.shared, single_id, probe)
    if problem is None:
        return Placement(plan.requested)
    if plan.explicit:
        if single_id:
            return Placement(plan.requested, f"{plan.requested} {problem}; used as configured "
                                             "(single-uid mode: no file needs a subordinate owner)")
        raise FailedPrecondition(
            f"can't use storage root: {plan.requested}: {problem}",
            hint="unset storage_root (config.toml), ROOTLESS_ROOT and --root to let rootless use node-local "
                 f"storage ({', '.join(plan.fallbacks[:1]) or '$TMPDIR'}), or set it to a local disk")
    rejected = list(plan.rejected)
    for path in plan.fallbacks:
        why = _make_local(path) or _problem(path, None, single_id, probe)
        if why is None:
            return Placement(path, f"{plan.requested} {problem}: using node-local {path}")
        rejected.append(f"{path}: {why}")
    raise FailedPrecondition(
        f"can't place the store: {plan.requested} {problem}, and no node-local dir fits: {'; '.join(rejected)}",
        hint="set TMPDIR or ROOTLESS_ROOT to a directory of yours on a local disk")


def describe_default(requested: str, explicit: bool, env: Mapping[str, str], uid: int,
                     fs_type: StatfsType = statfs_type) -> Tuple[str, str]:
    """For doctor (outside the namespace, no probe): where the store would go and why, by statfs alone."""
    plan = plan_storage(requested, explicit, env, uid, fs_type)
    if plan.shared is None:
        return requested, ""
    if explicit:
        return requested, f"{requested} is on {plan.shared}: the daemon refuses it (unless in single-uid mode)"
    target = plan.fallbacks[0] if plan.fallbacks else "(no node-local dir fits)"
    return target, f"{requested} is on {plan.shared}: the store goes to node-local {target}"
