"""Where the user's running daemon listens, recorded next to the store lock (issue 11).

The runtime dir (and so the socket) follows $XDG_RUNTIME_DIR, which differs
between login styles of the same user: `su -` has none, an ssh session has
/run/user/UID. The store does not, so the daemon that holds the store lock
writes `<storage root>/daemon.json` (pid, socket, runtime dir, boot id) and a
CLI whose own socket is absent finds that daemon there instead of starting a
second one. The record is trusted only if it is a regular file of the user's,
not open to others, in a store dir of the user's, from this boot, naming a live
pid and a socket in a runtime dir that passes check_run_dir; the transport then
checks the socket's peer (SO_PEERCRED) as for any local socket.
"""
from __future__ import annotations

import json
import os
import stat
from typing import NamedTuple, Optional

from rootless.config.paths import BOOT_ID, check_run_dir
from rootless.errors import PermissionDenied

RECORD_NAME = "daemon.json"
# rootlessd's exit status when another daemon holds the store lock (sysexits EX_TEMPFAIL): a CLI
# that started it lost a start race and waits for the winner to serve.
STORE_BUSY_EXIT = 75
_MAX_RECORD = 64 * 1024


class RunningDaemon(NamedTuple):
    """A daemon that holds the store lock, as its record says."""

    pid: int
    socket: str
    run_dir: str


def record_path(root: str) -> str:
    return os.path.join(root, RECORD_NAME)


def record_for(pid: int, socket: str, run_dir: str) -> "dict[str, object]":
    """What the daemon writes (util.fs.atomic_write_json, mode 0600) once its socket is bound."""
    return {"pid": pid, "socket": socket, "run_dir": run_dir, "boot_id": _boot_id()}


def _boot_id() -> str:
    try:
        with open(BOOT_ID, encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def _is_private_of(info: os.stat_result, euid: int) -> bool:
    return info.st_uid == euid and not info.st_mode & 0o022


def _read_record(root: str, euid: int) -> Optional[dict]:  # type: ignore[type-arg]
    """The record's JSON if the store dir and the file are the user's and not writable by others."""
    try:
        if not _is_private_of(os.lstat(root), euid):
            return None
        fd = os.open(record_path(root), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)  # of what was opened: no window between check and read
        if not stat.S_ISREG(info.st_mode) or not _is_private_of(info, euid) or info.st_mode & 0o077:
            return None
        data = json.loads(os.read(fd, _MAX_RECORD).decode("utf-8"))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    return data if isinstance(data, dict) else None


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # not ours: a reused pid
        return False
    return True


def find_running(root: str, euid: Optional[int] = None) -> Optional[RunningDaemon]:
    """The daemon recorded for the store at root, if the record can be trusted and it still runs."""
    me = os.geteuid() if euid is None else euid
    data = _read_record(root, me)
    if data is None or data.get("boot_id") != _boot_id():
        return None
    pid, socket, run_dir = data.get("pid"), data.get("socket"), data.get("run_dir")
    if not (isinstance(pid, int) and pid > 0 and isinstance(socket, str) and isinstance(run_dir, str)):
        return None
    if os.path.dirname(socket) != run_dir or not os.path.isabs(run_dir) or not is_alive(pid):
        return None
    try:
        check_run_dir(run_dir, me)
    except (OSError, PermissionDenied):
        return None
    return RunningDaemon(pid, socket, run_dir) if os.path.exists(socket) else None


def describe(daemon: RunningDaemon) -> str:
    """Where a running daemon is, in the words a user needs to reach it."""
    return (f"rootlessd (pid {daemon.pid}) listens on unix://{daemon.socket}: "
            f"export DOCKER_HOST=unix://{daemon.socket} (or ROOTLESS_RUNTIME_DIR={daemon.run_dir})")
