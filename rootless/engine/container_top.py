"""docker top: a container's processes as `ps` shows them, with the container's own user names.

As dockerd does (daemon/top_unix.go): run the host's `ps` with the request's
ps_args (default -ef) and `-q` with the container's pids, keep the rows of
those pids, and join everything after the last title into the command. The
UID/USER column then gets the names of the container's /etc/passwd (read
confined, through the running container's root), or the numeric id: ps would
name the uid after the host's passwd, which knows nothing of the container's
users (issues 11, 12).
"""
from __future__ import annotations

import os
import re
from typing import Any, Dict, List, Optional, Sequence

from rootless.errors import InvalidArgument
from rootless.runtime import users
from rootless.util import proc

DEFAULT_PS_ARGS = "-ef"
USER_TITLES = ("UID", "USER", "EUSER", "RUSER")
_FIELD_ASSIGNMENT = re.compile(r"\s+(\S*)=\s*(PID\S*)")  # dockerd's validatePSArgs


def check_ps_args(ps_args: str) -> None:
    """dockerd refuses renaming any column but pid to PID (it would find the wrong one)."""
    for key, value in _FIELD_ASSIGNMENT.findall(" " + ps_args):
        if key != "pid":
            raise InvalidArgument(f"ps_args: specifying \"{key}={value}\" is not allowed")


def run_ps(ps_args: str, pids: List[int]) -> str:
    """`ps ARGS -q PIDS`; without -q when ps refuses it with these args (dockerd retries so too)."""
    args = ps_args.split()
    result = proc.run(["ps", *args, "-q", ",".join(str(p) for p in pids)], tool="ps", check=False)
    if result.returncode != 0:
        result = proc.run(["ps", *args], tool="ps", check=False)
    if result.returncode != 0:
        said = result.stderr.decode("utf-8", "replace").strip().splitlines() or [f"exit status {result.returncode}"]
        raise InvalidArgument(f"ps_args: ps refused {ps_args!r}: {said[0]}")
    return result.text


def parse_ps(output: str, pids: List[int]) -> Dict[str, Any]:
    """Titles and the rows of the container's pids, the command joined back into one column."""
    lines = output.splitlines()
    titles = lines[0].split() if lines else []
    if "PID" not in titles:
        raise InvalidArgument("ps_args: couldn't find PID field in ps output")
    index = titles.index("PID")
    wanted = {str(p) for p in pids}
    rows = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > index and fields[index] in wanted:
            rows.append(fields[:len(titles) - 1] + [" ".join(fields[len(titles) - 1:])])
    return {"Titles": titles, "Processes": rows}


def effective_uid(pid: int) -> Optional[int]:
    """The uid the process acts as (ps's UID/USER), as this namespace sees it."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[2])
    except (OSError, ValueError, IndexError):
        pass
    return None


def container_user_names(root_pid: int) -> Dict[int, str]:
    """uid -> name from the running container's /etc/passwd, read through its root, confined."""
    try:
        text = users.read_rootfs_file(f"/proc/{root_pid}/root", "/etc/passwd") or ""
    except InvalidArgument:
        return {}
    names: Dict[int, str] = {}
    for entry in users.parse_passwd(text):
        names.setdefault(entry.uid, entry.name)
    return names


def name_users(table: Dict[str, Any], names: Dict[int, str], numeric_too: bool) -> Dict[str, Any]:
    """The user columns with the container's names; a numeric cell only when numeric_too (the default
    -ef prints names, but `-o uid` asks for numbers)."""
    columns = [i for i, title in enumerate(table["Titles"]) if title in USER_TITLES]
    pid_index = table["Titles"].index("PID")
    for row in table["Processes"]:
        uid = effective_uid(int(row[pid_index]))
        for i in columns:
            if uid is not None and (numeric_too or not row[i].isdigit()):
                row[i] = names.get(uid, str(uid))
    return table


def top(root_pid: int, pids: List[int], ps_args: str) -> Dict[str, Any]:
    """GET /containers/{id}/top for a running container whose init is root_pid."""
    ps_args = ps_args or DEFAULT_PS_ARGS
    check_ps_args(ps_args)
    table = parse_ps(run_ps(ps_args, pids or [root_pid]), pids)
    return name_users(table, container_user_names(root_pid), numeric_too=ps_args == DEFAULT_PS_ARGS)


def _ns(pid: int, kind: str) -> Optional[str]:
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def _is_pid_ns_init(pid: int) -> bool:
    """Whether pid is 1 in its innermost pid namespace (NSpid's last entry): the namespace is its own."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return line.split()[-1] == "1"
    except OSError:
        pass
    return False


def processes_in(pid: int, others: Sequence[int] = ()) -> List[int]:
    """The container's processes, without dockerd's cgroup (hosts without delegation have none):

    those in its mount namespace (its own, also with --pid host or --pid container:X, whose pid
    namespace holds others' processes) and, when it owns its pid namespace, the rest of that
    (a process that made a mount namespace of its own), less those in the mount namespaces of
    the containers `others` (pids of their inits) that joined it with --pid container:X.
    """
    mnt, pid_ns = _ns(pid, "mnt"), _ns(pid, "pid")
    if mnt is None:
        return []
    own_pid_ns = pid_ns if _is_pid_ns_init(pid) else None
    foreign = {_ns(other, "mnt") for other in others} - {None, mnt}
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            proc_mnt = _ns(int(entry), "mnt")
            if proc_mnt == mnt or (own_pid_ns is not None and proc_mnt not in foreign
                                   and _ns(int(entry), "pid") == own_pid_ns):
                found.append(int(entry))
    return sorted(found)
