"""The single source of truth for every path the engine uses.

Do not compute any such path elsewhere. Inside the daemon's user namespace
os.getuid() is 0, so the host uid is carried in ROOTLESS_HOST_UID. The
runtime dir is checked (check_run_dir) before anything in it is trusted.
"""
from __future__ import annotations

import os
import stat

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import List, Mapping, Optional, Tuple

from rootless.util.record import Record

STORE_VERSION = 1
HOST_UID_ENV = "ROOTLESS_HOST_UID"


def host_uid(environ: Optional[Mapping[str, str]] = None) -> int:
    """The uid of the user on the host, also from inside the namespace."""
    env = os.environ if environ is None else environ
    value = env.get(HOST_UID_ENV)
    return int(value) if value else os.getuid()


def _home(env: Mapping[str, str]) -> str:
    return env.get("HOME") or os.path.expanduser("~")


def default_storage_root(env: Mapping[str, str]) -> str:
    data_home = env.get("XDG_DATA_HOME") or os.path.join(_home(env), ".local", "share")
    return os.path.join(data_home, "rootless")


# The longest path under the runtime dir that is bound or connected by name:
# exec/<16 hex>.sock (crun connects to it by path). sun_path holds 107 bytes + NUL.
SUN_PATH_MAX = 107
_LONGEST_RUN_SUFFIX = len("/exec/") + 16 + len(".sock")
RUN_DIR_MAX = SUN_PATH_MAX - _LONGEST_RUN_SUFFIX


def default_runtime_dir(env: Mapping[str, str], uid: int) -> str:
    """$XDG_RUNTIME_DIR/rootless; without it (su, sudo, cron) a dir in the user's home.

    /tmp/rootless-$UID is only the last resort, for a home whose path would
    not leave room for socket names (sun_path is 108 bytes): any local user
    can create that name first, so check_run_dir refuses it unless it is ours
    (issue 7). Podman and docker fall back the same way ($HOME/rundir,
    $HOME/.docker/run). A home on a shared filesystem (an HPC cluster's NFS)
    takes the fallback too: the runtime dir is per host (issue 15).
    """
    base = env.get("XDG_RUNTIME_DIR")
    if base:
        return os.path.join(base, "rootless")
    in_home = os.path.join(default_storage_root(env), "run")
    if os.path.isabs(in_home) and len(in_home) <= RUN_DIR_MAX and not _is_on_shared_fs(in_home):
        return in_home
    return os.path.join("/tmp", f"rootless-{uid}")


def _is_on_shared_fs(path: str) -> bool:
    """A home on NFS/Lustre/GPFS is seen by every node: one node's socket, pidfiles and
    boot-id clean-up would hit another's (issue 15). Such a runtime dir goes to /tmp."""
    from rootless.util import linux  # ctypes: only when there is no XDG_RUNTIME_DIR (CLI start-up)

    try:
        return linux.statfs_type(linux.existing_parent(path)) in linux.SHARED_FS_MAGICS
    except OSError:
        return False


RUN_DIR_HINT = ("another user may have created it to impersonate rootlessd; set XDG_RUNTIME_DIR or "
                "ROOTLESS_RUNTIME_DIR to a private directory, or ask an admin to remove it")


def check_run_dir(path: str, euid: Optional[int] = None) -> None:
    """Refuse a runtime dir another user could control: a symlink, not ours, or open to others.

    lstat, so a symlink to another user's dir is refused rather than followed.
    The owner is compared with the effective uid, which also holds inside the
    engine's namespace (the user's files appear owned by 0 there).
    Raises FileNotFoundError when the dir does not exist.
    """
    info = os.lstat(path)
    problem = _run_dir_problem(path, info, os.geteuid() if euid is None else euid)
    if problem:
        # Imported here: every CLI command checks the runtime dir, and errors.py is ~0.3 ms of a
        # `rootless ps` (cli/fast.py).
        from rootless.errors import PermissionDenied

        reason, hint = problem
        raise PermissionDenied(f"can't use runtime dir: {path}: {reason}", hint=hint)


def _run_dir_problem(path: str, info: os.stat_result, me: int) -> Optional[Tuple[str, str]]:
    """(why, hint) when the runtime dir at path (lstat info) must not be used; None when it is fine."""
    if stat.S_ISLNK(info.st_mode):
        return f"is a symlink (to {os.readlink(path)}), not a directory", RUN_DIR_HINT
    if not stat.S_ISDIR(info.st_mode):
        return "not a directory", RUN_DIR_HINT
    if info.st_uid != me:
        return f"owned by uid {info.st_uid}, not you (uid {me})", RUN_DIR_HINT
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        return (f"mode {mode:04o} lets other users in (it must be 0700)",
                f"chmod 700 {path}  # if you made it; otherwise remove it")
    return None


def config_file(env: Optional[Mapping[str, str]] = None) -> str:
    env = os.environ if env is None else env
    explicit = env.get("ROOTLESS_CONFIG")
    if explicit:
        return explicit
    config_home = env.get("XDG_CONFIG_HOME") or os.path.join(_home(env), ".config")
    return os.path.join(config_home, "rootless", "config.toml")


SYSTEM_HOOKS_DIR = "/usr/share/containers/oci/hooks.d"


def hooks_dirs(env: Optional[Mapping[str, str]] = None) -> List[str]:
    """OCI hooks.d directories, highest precedence first (see hooks/README.md)."""
    env = os.environ if env is None else env
    config_home = env.get("XDG_CONFIG_HOME") or os.path.join(_home(env), ".config")
    return [os.path.join(config_home, "rootless", "hooks.d"), SYSTEM_HOOKS_DIR]


def tls_dir(env: Optional[Mapping[str, str]] = None) -> str:
    """The daemon's TLS files (ca.pem, server-cert.pem, server-key.pem), as `rootless tls generate` writes them."""
    env = os.environ if env is None else env
    config_home = env.get("XDG_CONFIG_HOME") or os.path.join(_home(env), ".config")
    return os.path.join(config_home, "rootless", "tls")


def cache_dir(env: Optional[Mapping[str, str]] = None) -> str:
    """$XDG_CACHE_HOME/rootless: what the CLI may recompute at will (the build id, util/build.py)."""
    env = os.environ if env is None else env
    return os.path.join(env.get("XDG_CACHE_HOME") or os.path.join(_home(env), ".cache"), "rootless")


def docker_config_dir(env: Optional[Mapping[str, str]] = None) -> str:
    """$DOCKER_CONFIG or ~/.docker: config.json, contexts/, and the client's default TLS files."""
    env = os.environ if env is None else env
    return env.get("DOCKER_CONFIG") or os.path.join(_home(env), ".docker")


def docker_config_file(env: Optional[Mapping[str, str]] = None) -> str:
    """The docker CLI's config.json (registry credentials): $DOCKER_CONFIG or ~/.docker."""
    env = os.environ if env is None else env
    config_dir = env.get("DOCKER_CONFIG") or os.path.join(_home(env), ".docker")
    return os.path.join(config_dir, "config.json")


class Paths(Record):
    """Every on-disk location, derived from a storage root and a runtime dir."""

    root: str
    run: str

    def __init__(self, root: str, run: str) -> None:
        self._set(root=root, run=run)

    @classmethod
    def from_env(
        cls, storage_root: Optional[str] = None, environ: Optional[Mapping[str, str]] = None
    ) -> "Paths":
        env = os.environ if environ is None else environ
        root = storage_root or env.get("ROOTLESS_ROOT") or default_storage_root(env)
        run = env.get("ROOTLESS_RUNTIME_DIR") or default_runtime_dir(env, host_uid(env))
        return cls(root=os.path.abspath(root), run=os.path.abspath(run))

    # -- storage root -------------------------------------------------
    @property
    def version_file(self) -> str:
        return os.path.join(self.root, "STORE_VERSION")

    @property
    def lock(self) -> str:
        return os.path.join(self.root, "lock")

    @property
    def blobs(self) -> str:
        return os.path.join(self.root, "blobs", "sha256")

    @property
    def ingest(self) -> str:
        return os.path.join(self.root, "ingest")

    @property
    def images(self) -> str:
        return os.path.join(self.root, "images")

    @property
    def layers(self) -> str:
        return os.path.join(self.root, "layers")

    @property
    def image_index(self) -> str:
        """Every image record and tag, one JSON file (images/store.py)."""
        return os.path.join(self.images, "index.json")

    @property
    def image_index_lock(self) -> str:
        return os.path.join(self.images, "index.lock")

    @property
    def gc_lock(self) -> str:
        """Shared by pulls/loads/builds (a lease), exclusive for garbage collection."""
        return os.path.join(self.root, "gc.lock")

    @property
    def containers(self) -> str:
        return os.path.join(self.root, "containers")

    @property
    def volumes(self) -> str:
        return os.path.join(self.root, "volumes")

    @property
    def networks(self) -> str:
        return os.path.join(self.root, "networks")

    @property
    def tmp(self) -> str:
        return os.path.join(self.root, "tmp")

    @property
    def squashfs_mounts(self) -> str:
        """squashfuse mounts of squashfs image files, one dir per file (runtime/storage/squashfs.py)."""
        return os.path.join(self.root, "squashfs")

    @property
    def build_cache(self) -> str:
        """The build cache: step entries and links to their layer blobs (build/cache.py)."""
        return os.path.join(self.root, "build-cache")

    def placed(self) -> "Paths":
        """These paths with the root the daemon really uses for this requested root (issue 15):
        a store on a shared filesystem moves to node-local storage."""
        import json  # ~1 ms: every CLI command imports this module (util/jsonlite.py)

        try:
            with open(self.storage_placement, encoding="utf-8") as f:
                record = json.load(f)
        except (OSError, ValueError):
            return self
        if not isinstance(record, dict) or record.get("requested") != self.root or not record.get("root"):
            return self
        return Paths(root=str(record["root"]), run=self.run)

    def container_dir(self, container_id: str) -> str:
        return os.path.join(self.containers, container_id)

    # -- runtime dir (tmpfs, gone at reboot) ---------------------------
    @property
    def socket(self) -> str:
        return os.path.join(self.run, "rootless.sock")

    @property
    def daemon_pidfile(self) -> str:
        return os.path.join(self.run, "rootlessd.pid")

    @property
    def daemon_log(self) -> str:
        return os.path.join(self.run, "rootlessd.log")

    @property
    def storage_placement(self) -> str:
        """Where the daemon put the store and why (host/placement.py), for doctor and unshare."""
        return os.path.join(self.run, "storage-placement.json")

    @property
    def pause_pidfile(self) -> str:
        return os.path.join(self.run, "pause.pid")

    @property
    def namespace_lock(self) -> str:
        return os.path.join(self.run, "ns.lock")

    @property
    def crun_state(self) -> str:
        return os.path.join(self.run, "crun")

    @property
    def monitors(self) -> str:
        return os.path.join(self.run, "monitors")

    # Each container's hostname, hosts and resolv.conf (engine/container_spec.write_etc_files),
    # bound over its /etc by crun: written at every start, so the runtime dir (a tmpfs as a rule)
    # rather than the storage root, where each new inode costs 0.3-0.5 ms on a churned ext4
    # (bench/README.md "Inodes out of the storage root"). Kept while stopped, gone at removal.
    @property
    def etc_files(self) -> str:
        return os.path.join(self.run, "etc")

    def etc_dir(self, container_id: str) -> str:
        return os.path.join(self.etc_files, container_id)

    # Volume subpaths pinned for crun during a start (engine/mount_sources.py); never under a
    # directory that is removed recursively, since a stage is a bind mount into a volume.
    @property
    def subpath_stage(self) -> str:
        return os.path.join(self.run, "subpaths")

    # Compiled seccomp filters by profile + crun + libseccomp + kernel (runtime/seccomp_cache.py);
    # in the runtime dir, so a reboot (new kernel) empties it.
    @property
    def seccomp_cache(self) -> str:
        return os.path.join(self.run, "seccomp-cache")

    # One dir per running container's monitor (runtime/monitor.py). Socket
    # paths can exceed sun_path's 108 bytes: the monitor binds them relative
    # to its dir and clients connect through /proc/self/fd (runtime/supervisor.py).
    def monitor_dir(self, container_id: str) -> str:
        return os.path.join(self.monitors, container_id)

    def monitor_config(self, container_id: str) -> str:
        return os.path.join(self.monitor_dir(container_id), "config.json")

    def monitor_pidfile(self, container_id: str) -> str:
        return os.path.join(self.monitor_dir(container_id), "monitor.pid")

    def monitor_log(self, container_id: str) -> str:
        return os.path.join(self.monitor_dir(container_id), "monitor.log")

    def attach_socket(self, container_id: str) -> str:
        return os.path.join(self.monitor_dir(container_id), "attach.sock")

    def control_socket(self, container_id: str) -> str:
        return os.path.join(self.monitor_dir(container_id), "ctl.sock")

    def exit_file(self, container_id: str) -> str:
        return os.path.join(self.monitor_dir(container_id), "exit.json")

    def exec_process_file(self, container_id: str, exec_id: str) -> str:
        return os.path.join(self.monitor_dir(container_id), f"exec-{exec_id}.json")

    @property
    def exec_sockets(self) -> str:
        return os.path.join(self.run, "exec")

    def exec_console_socket(self, exec_id: str) -> str:
        """Short on purpose: crun connects to it by path (sun_path is 108 bytes)."""
        return os.path.join(self.exec_sockets, f"{exec_id[:16]}.sock")

    def ensure_run_dir(self) -> None:
        """Create the runtime dir 0700 and refuse one another user could control."""
        os.makedirs(self.run, mode=0o700, exist_ok=True)
        check_run_dir(self.run)
        boot_id = _read_boot_id()
        if boot_id:
            self.forget_previous_boot(boot_id)

    @property
    def boot_id_file(self) -> str:
        return os.path.join(self.run, "boot-id")

    def forget_previous_boot(self, boot_id: str) -> None:
        """Drop the state a previous boot left, as tmpfs would have.

        The runtime dir may live in the home now (issue 7), where it outlives
        a reboot: pidfiles would name reused pids and crun would find states
        of containers that no longer exist. Only the names this module gives
        out are removed, never anything else in a dir ROOTLESS_RUNTIME_DIR
        may point to; without a boot-id file (first use) nothing is removed.
        """
        if _read_text(self.boot_id_file) == boot_id:
            return
        import fcntl  # here: every CLI start imports this module, and only a daemon start gets here

        fd = os.open(self.run, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # two CLIs starting after a reboot: one wipes
            previous = _read_text(self.boot_id_file)
            if previous == boot_id:
                return
            if previous is not None:
                for path in (self.socket, self.daemon_pidfile, self.pause_pidfile, self.crun_state,
                             self.monitors, self.exec_sockets, self.storage_placement):
                    _remove(path)
            with open(self.boot_id_file + ".tmp", "w", encoding="ascii") as f:
                f.write(boot_id + "\n")
            os.replace(self.boot_id_file + ".tmp", self.boot_id_file)
        finally:
            os.close(fd)

    def has_run_dir(self) -> bool:
        """Whether the runtime dir exists; refuses one another user could control."""
        try:
            check_run_dir(self.run)
        except FileNotFoundError:
            return False
        return True


BOOT_ID = "/proc/sys/kernel/random/boot_id"


def _read_text(path: str) -> Optional[str]:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def _read_boot_id() -> Optional[str]:
    try:
        return _read_text(BOOT_ID)
    except OSError:
        return None


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        import shutil  # ~1.8 ms (bz2, lzma): every CLI command imports this module

        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
