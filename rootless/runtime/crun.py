"""A thin wrapper around the crun binary: argv building and calls, no state logic.

Every call is `crun --cgroup-manager=M --root STATE <command> ...`: the state
root lives in the runtime dir, and the manager comes from CgroupInfo.manager.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import signal as signals
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Union

from rootless.errors import InvalidArgument, NotFound, ToolError
from rootless.util import linux, proc

logger = logging.getLogger(__name__)

# statvfs f_flag bits a remount must keep (the kernel refuses to clear flags locked by the
# namespace's creator) and the MS_ flags that keep them.
_KEPT_FLAGS = ((os.ST_NOSUID, linux.MS_NOSUID), (os.ST_NODEV, linux.MS_NODEV), (os.ST_NOEXEC, linux.MS_NOEXEC),
               (os.ST_NOATIME, 1024), (os.ST_NODIRATIME, 2048), (os.ST_RELATIME, 1 << 21))


@functools.lru_cache(maxsize=4)
def runtime_version(binary: str = "crun") -> str:
    """First line of `crun --version`, e.g. "crun version 1.8.1"."""
    try:
        return proc.run([binary, "--version"], tool=binary, timeout=10).text.splitlines()[0]
    except ToolError as exc:
        return f"unavailable ({exc.message})"


def base_argv(binary: str, state_root: str, cgroup_manager: str) -> List[str]:
    """The global options every crun call gets."""
    return [binary, f"--cgroup-manager={cgroup_manager}", "--root", state_root]


def runtime_path(binary: str) -> Optional[str]:
    return proc.which(binary)


def in_initial_user_namespace() -> bool:
    """Whether this process sees the host's ids (no user namespace of ours around it)."""
    try:
        with open("/proc/self/uid_map", encoding="ascii") as f:
            return f.read().split() == ["0", "0", "4294967295"]
    except OSError:
        return True


def _writable(directory: str) -> bool:
    return os.access(directory, os.W_OK)


def pin_read_only(binary: str) -> bool:
    """Bind the directory holding crun read-only over itself, in our mount namespace only.

    Every crun call first copies its own binary into a sealed memfd and
    re-executes it (CVE-2019-5736: a container must not overwrite the
    host's crun through /proc/self/exe), ~2-4 ms per call here, three
    calls per `run --rm`. crun skips that for a binary on a read-only
    mount (libcrun/cloned_binary.c, is_self_cloned). Done only where it
    takes nothing away: inside the daemon's user namespace, for a
    directory we can't write anyway (the host's root owns it). The
    directory, not the file: a crun the host upgrades is seen at once.
    Whether crun's directory is read-only now.
    """
    found = proc.which(binary)
    if not found or in_initial_user_namespace():
        return False
    directory = os.path.dirname(os.path.realpath(found))
    flags = os.statvfs(directory).f_flag
    if flags & os.ST_RDONLY:
        return True  # done by a daemon before us in this namespace, or read-only already
    if _writable(directory):
        return False  # the user's own dir: read-only here would break writes to it
    kept = sum(ms for st, ms in _KEPT_FLAGS if flags & st)
    try:
        linux.mount(directory, directory, None, linux.MS_BIND | linux.MS_REC, None)
    except OSError as exc:
        logger.debug("crun stays cloned per call: bind %s: %s", directory, exc)
        return False
    try:
        linux.mount("", directory, None, linux.MS_REMOUNT | linux.MS_BIND | linux.MS_RDONLY | kept, None)
    except OSError as exc:
        logger.debug("crun stays cloned per call: read-only %s: %s", directory, exc)
        linux.umount(directory, linux.MNT_DETACH)
        return False
    return True


def signal_name(sig: Union[int, str]) -> str:
    """crun accepts names without SIG (KILL) or numbers; normalise what docker sends."""
    if isinstance(sig, int) or str(sig).isdigit():
        return str(int(sig))
    name = str(sig).upper()
    name = name[3:] if name.startswith("SIG") else name
    if not hasattr(signals, "SIG" + name):
        raise InvalidArgument(f"invalid signal: {sig}")
    return name


def _is_missing(exc: ToolError) -> bool:
    return "does not exist" in exc.stderr or "No such file" in exc.stderr


@dataclass(frozen=True)
class Crun:
    """How to call crun for this engine: binary, state root, cgroup manager."""

    binary: str
    state_root: str
    cgroup_manager: str = "disabled"

    def argv(self, *args: str) -> List[str]:
        return base_argv(self.binary, self.state_root, self.cgroup_manager) + list(args)

    def create_argv(self, container_id: str, bundle: str, pid_file: str,
                    console_socket: Optional[str] = None) -> List[str]:
        extra = ["--console-socket", console_socket] if console_socket else []
        return self.argv("create", "--bundle", bundle, "--pid-file", pid_file, *extra, container_id)

    def start_argv(self, container_id: str) -> List[str]:
        return self.argv("start", container_id)

    def kill_argv(self, container_id: str, sig: Union[int, str] = "TERM", all_processes: bool = False) -> List[str]:
        extra = ["--all"] if all_processes else []
        return self.argv("kill", *extra, container_id, signal_name(sig))

    def delete_argv(self, container_id: str, force: bool = True) -> List[str]:
        return self.argv("delete", *(["--force"] if force else []), container_id)

    def exec_argv(self, container_id: str, process_file: str, console_socket: Optional[str] = None,
                  detach: bool = False, pid_file: Optional[str] = None) -> List[str]:
        extra = ["--console-socket", console_socket] if console_socket else []
        extra += ["--detach"] if detach else []
        extra += ["--pid-file", pid_file] if pid_file else []
        return self.argv("exec", "--process", process_file, *extra, container_id)

    def update_argv(self, container_id: str, resources_file: str) -> List[str]:
        return self.argv("update", "--resources", resources_file, container_id)

    def state_argv(self, container_id: str) -> List[str]:
        return self.argv("state", container_id)

    def has_state(self, container_id: str) -> bool:
        """Whether crun keeps state for the container (its dir under --root), without running crun."""
        return os.path.isdir(os.path.join(self.state_root, container_id))

    # -- calls ---------------------------------------------------------
    def start(self, container_id: str) -> None:
        # It prints nothing on stdout: only its stderr (the reason of a failure) is read.
        proc.run(self.start_argv(container_id), tool="crun", timeout=60, stdout=proc.DEVNULL)

    def pause(self, container_id: str) -> None:
        """Freeze the container (needs a cgroup the runtime manages)."""
        proc.run(self.argv("pause", container_id), tool="crun", timeout=30)

    def resume(self, container_id: str) -> None:
        proc.run(self.argv("resume", container_id), tool="crun", timeout=30)

    def update(self, container_id: str, resources: Dict[str, Any], scratch_dir: str) -> None:
        """docker update: new linux.resources for a running container (runtime-spec's LinuxResources JSON)."""
        path = os.path.join(scratch_dir, f"resources-{container_id}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(resources, f)
        try:
            proc.run(self.update_argv(container_id, path), tool="crun", timeout=30)
        finally:
            os.unlink(path)

    def kill(self, container_id: str, sig: Union[int, str] = "TERM", all_processes: bool = False) -> None:
        """Send a signal; NotFound when crun has no such container."""
        try:
            proc.run(self.kill_argv(container_id, sig, all_processes), tool="crun", timeout=30)
        except ToolError as exc:
            if _is_missing(exc):
                raise NotFound(f"can't signal container: {container_id}: not running") from exc
            raise

    def delete(self, container_id: str) -> None:
        """Remove crun's state, killing what still runs; a missing container is fine."""
        try:
            proc.run(self.delete_argv(container_id), tool="crun", timeout=30)
        except ToolError as exc:
            if not _is_missing(exc):
                raise

    def state(self, container_id: str) -> Optional[Dict[str, Any]]:
        """crun's view of the container (status, pid), or None when it does not know it."""
        try:
            result = proc.run(self.state_argv(container_id), tool="crun", timeout=30)
        except ToolError as exc:
            if _is_missing(exc):
                return None
            raise
        state: Dict[str, Any] = json.loads(result.stdout)
        return state
