"""The engine's side of the per-container monitors: conmon (runtime/conmon.py) or ours (runtime/monitor.py).

Two monitors, for now (issue 13): conmon, podman's C monitor, costs ~0.5 MB
per container, ours (a Python process) ~5 MB, so conmon monitors every
container it can when the `monitor` setting picks it (conmon.resolve_monitor). Ours
stays, transitionally, for what conmon can't do (conmon.python_only_reason):
a container's own slirp4netns or pasta (--network slirp4netns|pasta), and
logs conmon can't keep as docker does (max-file > 1 rotation with
compression, journald with docker's fields and its local copy), and telling
the OOM kill of a container with a memory limit. Which one a
container has is recorded in its monitor dir (KIND_FILE), so a restarted
daemon talks to each in its own way.

launch() starts a monitor and waits until the container is created;
start/attach/resize talk to it (ours: its sockets, protocol in
runtime/monitor_protocol.py; conmon: its attach socket and ctl fifo, `crun
start` by us); read_exit/wait_exit/is_alive find out what happened, also
after a daemon restart (the monitor's pid file and exit record are on disk);
kill goes to crun directly, as podman does next to conmon. exec: through our
monitor, or for conmon containers `conmon --exec` (runtime/conmon_exec.py).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import rootless
from rootless.config.paths import Paths
from rootless import errors
from rootless.errors import FailedPrecondition, Internal, RootlessError, ToolError
from rootless.runtime import conmon as conmon_mod
from rootless.runtime.conmon import CONMON, PYTHON
from rootless.runtime.crun import Crun
from rootless.runtime.monitor_protocol import (PIDFILE, READY, MonitorConfig, accept_console, connect_unix,
                                               process_start_time, set_winsize)
from rootless.runtime.network import slirp
from rootless.runtime.seccomp_cache import SeccompCache
from rootless.runtime.zygote import Zygote
from rootless.util import fs, proc
from rootless.util.trash import TRASH, Trash
from rootless.wire.times import NANO, now_rfc3339

logger = logging.getLogger(__name__)

LAUNCH_TIMEOUT = 30.0
# A monitor that wrote exit.json may still be stopping slirp4netns (~20 ms).
FINISHING_TIMEOUT = 5.0
MONITOR_MARKER = b"rootless.runtime.monitor"
CONMON_MARKER = b"conmon"
# In a monitor dir: "conmon" when conmon monitors the container; absent for ours (and older daemons').
KIND_FILE = "monitor.kind"
BUNDLE_DIR = "bundle"  # in the monitor dir: the OCI bundle (Supervisor.bundle_dir)


@dataclass(frozen=True)
class Launched:
    """What a ready monitor reported."""

    container_id: str
    pid: int
    monitor_pid: int
    ports: List[Dict[str, Any]] = field(default_factory=list)


def _read_line(conn: socket.socket, limit: int = 65536) -> bytes:
    """One line, byte by byte so nothing after it (attach frames) is consumed."""
    data = bytearray()
    while len(data) < limit:
        byte = conn.recv(1)
        if not byte or byte == b"\n":
            break
        data += byte
    return bytes(data)


def error_from_report(report: Dict[str, Any]) -> RootlessError:
    """Rebuild the error a monitor reported ("tool: what failed: detail")."""
    message = str(report.get("error") or "monitor failed")
    hint = report.get("hint")
    tool, sep, rest = message.partition(": ")
    if sep and tool in ("crun", "slirp4netns", "pasta"):
        return ToolError(tool, rest, hint=hint)
    return Internal(f"can't create container: {message}", hint)


def _is_monitor(pid: int, container_id: str, started: Optional[int] = None, marker: bytes = MONITOR_MARKER) -> bool:
    """Whether pid is still the monitor that wrote the pid file, not a recycled pid."""
    if started is not None:
        return process_start_time(pid) == started
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError as exc:
        if exc.errno in proc.OUT_OF_FDS:  # not "gone": the caller retries (issue 7)
            raise
        return False
    return marker in cmdline and container_id.encode() in cmdline


def _python_env() -> Dict[str, str]:
    """The monitor imports this same rootless package, installed or not."""
    env = dict(os.environ)
    top = os.path.dirname(os.path.dirname(os.path.abspath(rootless.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (top, env.get("PYTHONPATH", "")) if p)
    return env



def _write_new(path: str, text: str) -> None:
    """A file of the monitor dir launch() has just made empty, mode 0600.

    Not fs.atomic_write's temp file and rename (two more metadata changes where
    the runtime dir is on disk): nothing reads it before launch() goes on, and
    one torn by a crash reads as missing (runtime_json) or, for KIND_FILE,
    counts by its existence alone.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fs.write_all(fd, text)
    finally:
        os.close(fd)


def runtime_json(path: str) -> Optional[Dict[str, Any]]:
    """A JSON file of the monitor dir; None when missing or not whole.

    The monitor and the supervisor write these without fsync (bench/README.md, "The run
    path"): the runtime dir is a tmpfs that a reboot empties. Where it is on disk instead,
    a power cut can leave one empty; it then reads as missing (a monitor without exit.json
    gives ExitCode 255, as after a SIGKILL) rather than stopping the daemon.
    """
    try:
        record: Optional[Dict[str, Any]] = fs.read_json(path)
    except ValueError:  # empty or torn (UnicodeDecodeError is a ValueError too)
        logger.warning("ignoring %s: not whole JSON (written before a power cut?)", path)
        return None
    return record if isinstance(record, dict) else None

class Supervisor:
    """Starts and talks to monitors; one per engine."""

    def __init__(self, paths: Paths, crun: Crun, python: str = sys.executable, use_zygote: bool = True,
                 cache_seccomp: bool = True, monitor: str = PYTHON) -> None:
        """monitor: the `monitor` setting (auto | conmon | python).

        Raises:
            FailedPrecondition: monitor "conmon" and conmon is not installed.
        """
        self.paths = paths
        self.crun = crun
        self.python = python
        self.monitor, conmon_binary = conmon_mod.resolve_monitor(monitor)
        self.conmon = conmon_mod.Conmon(conmon_binary, crun) if conmon_binary else None
        self._kinds: Dict[str, str] = {}  # container id -> CONMON | PYTHON, as KIND_FILE says
        self.zygote = Zygote(python, _python_env()) if use_zygote else None
        self.seccomp: Optional[SeccompCache] = SeccompCache(paths.seccomp_cache, crun.binary) if cache_seccomp else None
        self._lock = threading.Lock()
        self._exit_fds: Dict[str, int] = {}  # container id -> read end of its monitor's ready pipe
        # Every exit deletes the monitor's dir before the engine answers its waiters: renamed
        # here, deleted by the trash's thread (a few ms of unlink where the runtime dir is on disk).
        self.trash = Trash(os.path.join(paths.monitors, TRASH))
        self.trash.empty()

    def bundle_dir(self, container_id: str) -> str:
        """The container's OCI bundle: in its monitor dir, written at each launch (launch's
        bundle_spec). Runtime-dir files: the runtime dir is a tmpfs as a rule, and each inode
        made in the storage root costs 0.3-0.5 ms on a churned ext4 (bench/README.md "Run path,
        session 12"); conmon makes its attach socket and ctl/winsz fifos here too."""
        return os.path.join(self.paths.monitor_dir(container_id), BUNDLE_DIR)

    def bundle_config(self, container_id: str) -> Optional[Dict[str, Any]]:
        """The running container's OCI config as launched (None without a monitor config): from
        the bundle its monitor config names, so a container an older daemon launched, whose
        bundle is in its container dir, reads the same."""
        config = self._monitor_config(container_id)
        if config is None:
            return None
        spec: Optional[Dict[str, Any]] = fs.read_json(os.path.join(config.bundle, "config.json"))
        return spec

    def new_config(self, container_id: str, bundle: str, log_path: str, **options: Any) -> MonitorConfig:
        """A MonitorConfig with this engine's crun and paths; options are its other fields."""
        return MonitorConfig(
            container_id=container_id, bundle=bundle, log_path=log_path,
            crun_binary=self.crun.binary, crun_root=self.crun.state_root,
            cgroup_manager=self.crun.cgroup_manager,
            monitor_dir=self.paths.monitor_dir(container_id), **options)

    # -- launch ---------------------------------------------------------------
    def prepare_spec(self, spec: Dict[str, Any]) -> Optional[str]:
        """The cached seccomp filter into a spec before its bundle is written (SeccompCache.annotate);
        pass the result to launch() as seccomp_key, with spec_prepared=True."""
        return self.seccomp.annotate(spec) if self.seccomp else None

    def launch(self, config: MonitorConfig, timeout: float = LAUNCH_TIMEOUT, seccomp_key: Optional[str] = None,
               spec_prepared: bool = False, while_creating: Callable[[], None] = lambda: None,
               bundle_spec: Optional[str] = None) -> Launched:
        """Start a monitor that runs `crun create`; return once the container is created.

        spec_prepared: the bundle's spec went through prepare_spec (which gave seccomp_key),
        so it is not read and written again here. bundle_spec: the spec's JSON, written as
        config.bundle's config.json once the monitor dir is fresh (the bundle is in it:
        bundle_dir). while_creating() runs once, in this
        thread, while the monitor's `crun create` runs (work the caller needs only after
        it, done in the time this thread would wait); it must not raise.

        Raises:
            Conflict: a monitor for this container still runs.
            ToolError: crun or slirp4netns failed (their message inside).
        """
        container_id = config.container_id
        if self.is_alive(container_id):
            if self.read_exit(container_id) is not None:
                # ours may be stopping slirp4netns, conmon running its exit command (crun delete)
                self._sleep_until_monitor_exits(container_id, FINISHING_TIMEOUT)
            if self.is_alive(container_id):
                raise errors.Conflict(f"can't create container: {container_id}: its monitor is still running")
        self._forget_exit_notifier(container_id)
        self._reset_dir(container_id)
        if bundle_spec is not None:
            fs.make_dir(config.bundle)
            # No fsync: written again before every launch, and only read while it runs (crun, execs).
            _write_new(os.path.join(config.bundle, "config.json"), bundle_spec)
        kind = self._choose_monitor(config)
        fs.ensure_dir(self.paths.crun_state)
        if kind == PYTHON and config.network == "slirp4netns" and not config.slirp_features:
            config.slirp_features = slirp.detect_features().to_json()  # cached in this process
        # Runtime-dir files describe live processes, which a reboot ends: no fsync (runtime_json).
        _write_new(self.paths.monitor_config(container_id), json.dumps(config.to_json(), sort_keys=True) + "\n")
        if not spec_prepared:
            seccomp_key = self.seccomp.prepare_bundle(config.bundle) if self.seccomp else None
        if kind == CONMON:
            launched = self._launch_conmon(config, timeout, while_creating)
        else:
            launched = self._launch_python(config, timeout, while_creating)
        if seccomp_key and self.seccomp:  # created, not started: crun's state holds the compiled filter
            self.seccomp.store(seccomp_key, os.path.join(self.crun.state_root, container_id, "seccomp.bpf"))
        return launched

    def _choose_monitor(self, config: MonitorConfig) -> str:
        """conmon where it can do the job (python_only_reason), recorded in the monitor dir."""
        reason = conmon_mod.python_only_reason(config) if self.conmon is not None else "conmon not in use"
        kind = CONMON if reason is None else PYTHON
        if kind == CONMON:
            _write_new(os.path.join(self.paths.monitor_dir(config.container_id), KIND_FILE), CONMON + "\n")
        elif self.conmon is not None:
            logger.debug("container %s: the Python monitor: %s", config.container_id, reason)
        self._kinds[config.container_id] = kind
        return kind

    def _launch_conmon(self, config: MonitorConfig, timeout: float,
                       while_creating: Callable[[], None] = lambda: None) -> Launched:
        assert self.conmon is not None
        container_id = config.container_id
        if self.crun.has_state(container_id):  # left by a conmon killed before its exit command ran
            self.crun.delete(container_id)

        def forked(conmon_pid: int) -> None:
            # conmon's pid is known before crun create is done: recorded while it runs, not after.
            self._record_conmon(container_id, conmon_pid)
            while_creating()

        pid, conmon_pid = self.conmon.launch(config, timeout, on_forked=forked)
        return Launched(container_id, pid, conmon_pid, [])

    def _record_conmon(self, container_id: str, conmon_pid: int) -> None:
        """conmon's pid file again as "PID STARTTIME", as ours writes it: is_alive reads both alike."""
        started = process_start_time(conmon_pid)
        fs.atomic_write(self.paths.monitor_pidfile(container_id), f"{conmon_pid} {started or ''}".strip() + "\n",
                        0o600, durable=False)

    def _launch_python(self, config: MonitorConfig, timeout: float,
                       while_creating: Callable[[], None] = lambda: None) -> Launched:
        container_id = config.container_id
        ready_r, ready_w = os.pipe()
        try:
            self._start_monitor(self.paths.monitor_config(container_id), ready_w, timeout)
            os.close(ready_w)
            ready_w = -1
            while_creating()  # the monitor runs crun create meanwhile
            report = self._wait_ready(container_id, ready_r, timeout)
            if "error" not in report:
                with self._lock:  # the monitor closes its end once exit.json exists
                    self._exit_fds[container_id] = ready_r
                ready_r = -1
        finally:
            for fd in (ready_r, ready_w):
                if fd >= 0:
                    os.close(fd)
        if "error" in report:
            raise error_from_report(report)
        return Launched(container_id, int(report["pid"]), int(report["monitor_pid"]), report.get("ports", []))

    def _start_monitor(self, config_path: str, ready_w: int, timeout: float) -> None:
        """Fork it from the zygote (~45 ms less than an exec), else exec it."""
        if self.zygote is not None and self.zygote.fork_monitor(config_path, ready_w, timeout):
            return
        argv = [self.python, "-m", "rootless.runtime.monitor", config_path, str(ready_w)]
        starter = proc.popen(argv, tool="monitor", pass_fds=(ready_w,), start_new_session=True,
                             stderr=None, env=_python_env())
        starter.wait(timeout)  # the monitor forks; this parent exits at once

    def close(self) -> None:
        """Stop the zygote (monitors live on)."""
        if self.zygote is not None:
            self.zygote.close()

    def _reset_dir(self, container_id: str) -> None:
        """Forget a previous run (exit.json, sockets), keep nothing stale."""
        directory = self.paths.monitor_dir(container_id)
        if os.path.isdir(directory):
            shutil.rmtree(directory, ignore_errors=True)
        fs.ensure_dir(directory)

    def _wait_ready(self, container_id: str, ready_r: int, timeout: float) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        data = b""
        while not data.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ToolError("monitor", f"not ready after {timeout}s", stderr=self._log_tail(container_id))
            readable = proc.wait_readable([ready_r], remaining)
            if not readable:
                continue
            chunk = os.read(ready_r, 4096)
            if not chunk:
                raise ToolError("monitor", "exited before the container was created",
                                stderr=self._log_tail(container_id))
            data += chunk
        report: Dict[str, Any] = json.loads(data)
        return report

    def _log_tail(self, container_id: str) -> str:
        try:
            with open(self.paths.monitor_log(container_id), "rb") as f:
                return f.read()[-4096:].decode("utf-8", "replace")
        except OSError:
            return ""

    # -- talking to a monitor ---------------------------------------------------
    def _control(self, container_id: str, request: Dict[str, Any], timeout: float = 60.0) -> None:
        try:
            with connect_unix(self.paths.control_socket(container_id), timeout) as conn:
                conn.sendall((json.dumps(request) + "\n").encode())
                reply = json.loads(_read_line(conn) or b"{}")
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise FailedPrecondition(f"container {container_id} is not running: no monitor") from exc
        if "error" in reply:
            raise error_from_report(reply)

    def _kind(self, container_id: str) -> str:
        """Which monitor the container has: CONMON or PYTHON (KIND_FILE, also a previous daemon's)."""
        kind = self._kinds.get(container_id)
        if kind is None:
            path = os.path.join(self.paths.monitor_dir(container_id), KIND_FILE)
            kind = CONMON if os.path.exists(path) else PYTHON
            self._kinds[container_id] = kind
        return kind

    def _conmon_config(self, container_id: str) -> MonitorConfig:
        """The config a conmon container was launched with (its bundle, tty, stdin)."""
        config = self._monitor_config(container_id)
        if config is None:
            raise FailedPrecondition(f"container {container_id} is not running: no monitor")
        return config

    def _monitor_config(self, container_id: str) -> Optional[MonitorConfig]:
        """The config the container's monitor was launched with; None: no (whole) monitor config."""
        data = runtime_json(self.paths.monitor_config(container_id))
        return MonitorConfig.from_json(data) if data is not None else None

    def start(self, container_id: str) -> None:
        """Run `crun start`: in our monitor, or here for conmon (the container was created by launch)."""
        if self._kind(container_id) == CONMON:  # conmon only creates; podman starts it itself too
            # Always crun's own start: writing its exec.fifo ourselves saved ~2 ms but would
            # reimplement crun's start protocol (its internals), which we orchestrate, not copy.
            self.crun.start(container_id)
            return
        self._control(container_id, {"start": True})

    def resume_start(self, container_id: str, timeout: float = LAUNCH_TIMEOUT) -> Optional[Launched]:
        """Finish a start a killed daemon left off: wait for the monitor's ready report, start.

        The monitor answers a second start request with ok, so this is right
        whether or not `crun start` ran. None when no monitor of this
        container runs (it failed, or the container already exited).

        Raises:
            ToolError / FailedPrecondition: crun start failed, or the monitor went away.
        """
        if self._kind(container_id) == CONMON:
            return self._resume_conmon_start(container_id)
        report = self._wait_ready_file(container_id, timeout)
        if report is None:
            return None
        self.start(container_id)
        return Launched(container_id, int(report["pid"]), int(report.get("monitor_pid") or 0),
                        list(report.get("ports") or []))

    def _resume_conmon_start(self, container_id: str) -> Optional[Launched]:
        """conmon created it (its pid file is there) and maybe `crun start` ran: start it unless it did."""
        if not self.is_alive(container_id) or self.read_exit(container_id) is not None:
            return None
        state = self.crun.state(container_id)
        if state is None:
            return None
        if state.get("status") == "created":
            self.crun.start(container_id)
        pid = int(state.get("pid") or 0) or conmon_mod.read_pid(os.path.join(
            self.paths.monitor_dir(container_id), PIDFILE)) or 0
        return Launched(container_id, pid, self.monitor_pid(container_id) or 0, [])

    def _wait_ready_file(self, container_id: str, timeout: float) -> Optional[Dict[str, Any]]:
        """The ready report the monitor also keeps on disk, once written; None if it is not alive."""
        deadline = time.monotonic() + timeout
        path = os.path.join(self.paths.monitor_dir(container_id), READY)
        while self.is_alive(container_id) and self.read_exit(container_id) is None:
            report: Optional[Dict[str, Any]] = runtime_json(path)
            if report is not None:
                return report
            if time.monotonic() > deadline:
                raise ToolError("monitor", f"not ready after {timeout}s", stderr=self._log_tail(container_id))
            time.sleep(0.05)
        return None

    def resize(self, container_id: str, height: int, width: int) -> None:
        if self._kind(container_id) == CONMON:
            config = self._conmon_config(container_id)
            if not config.tty:
                raise FailedPrecondition(f"can't resize: container {container_id} has no tty")
            conmon_mod.resize(config.bundle, height, width)
            return
        self._control(container_id, {"resize": [height, width]}, timeout=5.0)

    def attach(self, container_id: str, stdin: bool, stdout: bool, stderr: bool) -> socket.socket:
        """A blocking socket with the container's output as stdcopy frames (TTY: all stream 1).

        Send raw stdin bytes on it; shutdown(SHUT_WR) is EOF for StdinOnce
        containers. The monitor closes it after the container's last output.
        """
        if self._kind(container_id) == CONMON:
            config = self._conmon_config(container_id)
            return conmon_mod.attach(config.bundle, config.tty, stdin and config.open_stdin, stdout, stderr)
        try:
            conn = connect_unix(self.paths.attach_socket(container_id))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise FailedPrecondition(f"can't attach: container {container_id} is not running") from exc
        try:
            options = {"stdin": stdin, "stdout": stdout, "stderr": stderr}
            conn.sendall((json.dumps(options) + "\n").encode())
            if not _read_line(conn):
                raise FailedPrecondition(f"can't attach: container {container_id} is not running")
        except BaseException:
            conn.close()
            raise
        conn.settimeout(None)
        return conn

    # -- state --------------------------------------------------------------------
    def read_exit(self, container_id: str) -> Optional[Dict[str, Any]]:
        """{"ExitCode", "FinishedAt", "Signal"} (+ "OOMKilled") once the container has exited.

        Ours writes it as exit.json; conmon's exit and oom files give the same.
        """
        if self._kind(container_id) == CONMON:
            return conmon_mod.exit_record(self.paths.monitor_dir(container_id))
        return runtime_json(self.paths.exit_file(container_id))

    def _monitor_identity(self, container_id: str) -> Tuple[Optional[int], Optional[int]]:
        """(pid, start time) from the pid file; start time None from monitors before it was written."""
        try:
            with open(self.paths.monitor_pidfile(container_id), encoding="ascii") as f:
                fields = [int(v) for v in f.read().split()]
        except OSError as exc:
            if exc.errno in proc.OUT_OF_FDS:  # a full fd table is not a dead monitor (issue 7)
                raise
            return None, None
        except ValueError:
            return None, None
        return (fields[0] if fields else None), (fields[1] if len(fields) > 1 else None)

    def monitor_pid(self, container_id: str) -> Optional[int]:
        return self._monitor_identity(container_id)[0]

    def is_alive(self, container_id: str) -> bool:
        """Whether this container's monitor still runs (pid file + /proc start time or cmdline)."""
        pid, started = self._monitor_identity(container_id)
        marker = CONMON_MARKER if self._kind(container_id) == CONMON else MONITOR_MARKER
        return bool(pid) and _is_monitor(pid, container_id, started, marker)  # type: ignore[arg-type]

    def wait_exit(self, container_id: str, timeout: Optional[float] = None) -> Optional[Dict[str, Any]]:
        """The exit record once there is one; None on timeout.

        conmon's is there once its exit file is, while its exit command (`crun
        delete`) may still run: the engine's exit path (unwire, unmount) then
        overlaps it, and remove() waits for conmon to be gone (bench/README.md,
        "The run path with conmon"). A monitor that died without writing one
        (SIGKILL) gives ExitCode 255 and an "Error", so the engine can still
        mark the container stopped.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        init = _InitExit(conmon_mod.read_pid(os.path.join(self.paths.monitor_dir(container_id), PIDFILE))
                         if self._kind(container_id) == CONMON else None)
        try:
            while True:
                record = self.read_exit(container_id)
                if record is not None:
                    self._forget_exit_notifier(container_id)
                    return record
                if not self.is_alive(container_id):
                    self._forget_exit_notifier(container_id)
                    return self.read_exit(container_id) or {
                        "ExitCode": 255, "Signal": None, "FinishedAt": now_rfc3339(NANO),
                        "Error": f"monitor of container {container_id} died without an exit status"}
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                if not init.nap(remaining):
                    self._sleep_until_monitor_exits(container_id, remaining, init.fd)
        finally:
            init.close()

    def _wait_monitor_gone(self, container_id: str, timeout: Optional[float]) -> None:
        """Until the monitor has exited (conmon: after its exit command), or timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_alive(container_id):
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            self._sleep_until_monitor_exits(container_id, remaining)

    def _sleep_until_monitor_exits(self, container_id: str, timeout: Optional[float], watch: int = -1) -> None:
        """Block until the monitor closes its ready pipe (exit.json written) or exits, or watch
        turns readable; else poll."""
        pid, started = self._monitor_identity(container_id)
        try:
            pidfd = os.pidfd_open(pid) if pid else -1  # Linux 5.3+, Python 3.9+
        except (OSError, AttributeError):
            pidfd = -1
        if pidfd < 0:
            time.sleep(0.05 if timeout is None else min(0.05, timeout))
            return
        notifier = self._exit_notifier(container_id)
        marker = CONMON_MARKER if self._kind(container_id) == CONMON else MONITOR_MARKER
        try:
            if _is_monitor(pid, container_id, started, marker):  # type: ignore[arg-type]  # not a recycled pid
                extra = [fd for fd in (notifier, watch) if fd >= 0]
                readable = proc.wait_readable([pidfd] + extra, timeout)
                if notifier in readable and self.read_exit(container_id) is None:
                    self._forget_exit_notifier(container_id)  # EOF without a record: the pidfd decides
        finally:
            for fd in (pidfd, notifier):
                if fd >= 0:
                    os.close(fd)

    def _exit_notifier(self, container_id: str) -> int:
        """A dup of our end of the monitor's ready pipe (EOF once exit.json exists), or -1.

        A dup, so that another thread forgetting the original can't close it under our select.
        """
        with self._lock:
            fd = self._exit_fds.get(container_id, -1)
            return os.dup(fd) if fd >= 0 else -1

    def _forget_exit_notifier(self, container_id: str) -> None:
        with self._lock:
            fd = self._exit_fds.pop(container_id, -1)
        if fd >= 0:
            os.close(fd)

    def kill(self, container_id: str, signal: Union[int, str] = "TERM") -> None:
        """Signal the container's init through crun; NotFound when it is not running."""
        self.crun.kill(container_id, signal)

    def remove(self, container_id: str, timeout: float = 10.0, wait_monitor: bool = True) -> None:
        """Kill what runs, let the monitor finish, and delete its dir.

        wait_monitor=False (the container is being removed for good, its id never used
        again): a conmon that wrote its exit file may still be running its exit command
        (`crun delete` of crun's own state dir, which it finishes also without us) while
        its dir goes. With True (a stop, a restart next) that must be over first: a
        launch deletes crun state it finds, which would race conmon's delete.
        """
        alive = self.is_alive(container_id)
        conmon = alive and self._kind(container_id) == CONMON
        if alive and self.read_exit(container_id) is None:
            self.crun.delete(container_id)  # --force: kills init; the monitor then exits
            self.wait_exit(container_id, timeout)
        elif not conmon and self.crun.has_state(container_id):
            # The monitor runs `crun delete` before it writes exit.json, so state is left
            # only when it died; skipping the call saves ~8 ms per removal (bench/README.md).
            self.crun.delete(container_id)
        if conmon and wait_monitor:  # its exit command, after the exit file, deletes crun's state
            self._wait_monitor_gone(container_id, timeout)
        doomed = self.trash.discard(self.paths.monitor_dir(container_id))
        self._kinds.pop(container_id, None)
        if doomed is not None:
            self.trash.delete_later(doomed)

    def drop_orphans(self, is_recorded: Callable[[str], bool]) -> List[str]:
        """At start: the monitor dirs of containers gone for good (a daemon killed between a
        removal's rename of the container and the rename of its monitor dir); their ids.
        A monitor still running (conmon's exit command) is left for the next start."""
        try:
            names = sorted(os.listdir(self.paths.monitors))
        except FileNotFoundError:
            return []
        dropped = []
        for container_id in names:
            if container_id.startswith(".") or is_recorded(container_id) or self.is_alive(container_id):
                continue
            doomed = self.trash.discard(self.paths.monitor_dir(container_id))
            if doomed is not None:
                self.trash.delete_later(doomed)
                dropped.append(container_id)
        return dropped

    # -- exec -------------------------------------------------------------------
    def exec(self, container_id: str, exec_id: str, process: Dict[str, Any], *, stdin: bool = False,
             detach: bool = False) -> "ExecProcess":
        """Start `crun exec` for process (an OCI process object; "terminal" picks the TTY).

        The container's monitor runs crun (see runtime/monitor.py), so the
        process dies with its exec: when crun is killed, the monitor (its
        subreaper) kills what crun left; when our side closes or we die, the
        monitor kills crun, unless the result's detach() told it first. The
        caller owns the result's stdio (pipes, or the pty master) and gets the
        exit code from wait(). With detach nobody reads the output: stdout is
        /dev/null, stderr a pipe for crun's reason (drain it); the caller
        still waits, in the background, and calls detach(). A conmon
        container's exec runs under a conmon of its own instead, with the
        same contract (runtime/conmon_exec.py).

        Raises:
            ToolError: crun refused (no such container, bad process).
            FailedPrecondition: the container's monitor is gone.
        """
        through_conmon = self._exec_through_conmon(container_id)
        process_file = self.paths.exec_process_file(container_id, exec_id)
        fs.atomic_write_json(process_file, process, 0o600, durable=False)
        if through_conmon:
            from rootless.runtime import conmon_exec  # lazily: most daemons never load it
            fs.ensure_dir(self.paths.exec_sockets)
            return conmon_exec.start(  # type: ignore[return-value]  # ExecProcess's contract (its unit test)
                self.crun, container_id, exec_id, process_file, self.paths.exec_sockets,
                terminal=bool(process.get("terminal")), stdin=stdin, detach=detach)
        if process.get("terminal"):
            return self._exec_with_pty(container_id, exec_id, process_file)
        with contextlib.ExitStack() as stack:
            in_r, in_w = os.pipe() if stdin else (os.open(os.devnull, os.O_RDONLY), -1)
            out_r, out_w = (-1, os.open(os.devnull, os.O_WRONLY)) if detach else os.pipe()
            err_r, err_w = os.pipe()
            for fd in (in_r, out_w, err_w):  # the child's ends: crun has them once started
                stack.callback(os.close, fd)
            stack.enter_context(_closing_on_error(in_w, out_r, err_r))  # ours, kept on success
            handle = self._start_exec(container_id, process_file, (in_r, out_w, err_w), None)
        return ExecProcess(handle, process_file, stdin=os.fdopen(in_w, "wb") if in_w >= 0 else None,
                           stdout=os.fdopen(out_r, "rb") if out_r >= 0 else None, stderr=os.fdopen(err_r, "rb"))

    def _exec_through_conmon(self, container_id: str) -> bool:
        """Whether conmon monitors the container, so that its execs run under conmon too (runtime/conmon_exec.py)."""
        if self._kind(container_id) != CONMON:
            return False
        if not self.is_alive(container_id):
            raise FailedPrecondition(f"can't exec: container {container_id} is not running: no monitor")
        return True

    def _exec_with_pty(self, container_id: str, exec_id: str, process_file: str) -> "ExecProcess":
        fs.ensure_dir(self.paths.exec_sockets)
        console = self.paths.exec_console_socket(exec_id)
        with contextlib.ExitStack() as stack:
            listener = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(console)
            listener.bind(console)
            stack.callback(os.unlink, console)
            listener.listen(1)
            null = os.open(os.devnull, os.O_RDWR)
            err_r, err_w = os.pipe()
            for fd in (null, err_w):
                stack.callback(os.close, fd)
            stack.enter_context(_closing_on_error(err_r))
            handle = self._start_exec(container_id, process_file, (null, null, err_w), console)
            master = accept_console(listener, handle, LAUNCH_TIMEOUT)
            if master < 0:
                code = handle.wait(LAUNCH_TIMEOUT)
                if isinstance(handle, MonitorExec):
                    handle.close()
                raise ToolError("crun", f"exec failed with status {code}", stderr=_read_available(err_r))
        return ExecProcess(handle, process_file, master_fd=master, stderr=os.fdopen(err_r, "rb"))

    def _start_exec(self, container_id: str, process_file: str, stdio: Tuple[int, int, int],
                    console: Optional[str]) -> Any:
        """The monitor's exec (a MonitorExec), or crun run by us for a monitor too old to do it."""
        try:
            conn = connect_unix(self.paths.control_socket(container_id), LAUNCH_TIMEOUT)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise FailedPrecondition(f"can't exec: container {container_id} is not running: no monitor") from exc
        try:
            request = {"exec": {"process": process_file, "console": console}}
            socket.send_fds(conn, [(json.dumps(request) + "\n").encode()], list(stdio))
            reply = json.loads(_read_line(conn) or b"{}")
        except BaseException:
            conn.close()
            raise
        if "pid" in reply:
            return MonitorExec(conn, int(reply["pid"]))
        conn.close()
        if "unknown control request" not in str(reply.get("error")):
            raise error_from_report(reply or {"error": "monitor closed the exec request"})
        # A monitor started by a daemon before execs moved into monitors (upgrade).
        return self._start_crun_exec(container_id, process_file, stdio, console)

    def _start_crun_exec(self, container_id: str, process_file: str, stdio: Tuple[int, int, int],
                         console: Optional[str]) -> Any:
        """`crun exec` as our child (it ends with the daemon: ExecProcess.detach can't hand it over)."""
        argv = self.crun.exec_argv(container_id, process_file, console_socket=console)
        return proc.popen(argv, tool="crun", stdin=stdio[0], stdout=stdio[1], stderr=stdio[2])


class _InitExit:
    """When to look for conmon's exit file: soon after the container's init exits.

    conmon writes it within ~1 ms of the init's exit, then runs its exit command
    (`crun delete`, ~2-3 ms) and exits; waking on conmon's pidfd alone would
    wait for that too. A pidfd of the init (pid from crun's pid file) wakes the
    wait at the exit; then the file is looked for every POLL (a sleep: poll(2)
    counts in whole milliseconds), POLLS times at most, before conmon's pidfd
    alone decides again. pid None (our monitor,
    which closes a pipe at its exit.json; or no pid file): nothing to watch, no
    polling. Not inotify on the monitor dir: closing an inotify fd waits for the
    kernel's SRCU grace period, 10-30 ms here, on the exit path.
    """

    POLL, POLLS = 0.0003, 200

    def __init__(self, pid: Optional[int]) -> None:
        self.fd = -1
        self.polls = self.POLLS if pid else 0
        if pid:
            try:
                self.fd = os.pidfd_open(pid)
            except (OSError, AttributeError):  # gone already (poll for the file), or no pidfd_open
                self.fd = -1

    def nap(self, remaining: Optional[float]) -> bool:
        """A short sleep while the exit file is due (the init gone); False: wait on the pidfds
        (the monitor's, and self.fd while the init runs) instead."""
        if self.fd >= 0 and proc.wait_readable([self.fd], 0):
            self.close()
        if self.fd >= 0 or self.polls <= 0:
            return False
        self.polls -= 1
        time.sleep(self.POLL if remaining is None else min(self.POLL, remaining))
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@contextlib.contextmanager
def _closing_on_error(*fds: int) -> Iterator[None]:
    """Close fds if the block fails (they are the caller's to keep otherwise)."""
    try:
        yield
    except BaseException:
        for fd in fds:
            if fd >= 0:
                os.close(fd)
        raise


def _read_available(fd: int) -> str:
    """What a pipe holds now (crun has exited; we hold a write end too, so no EOF comes)."""
    os.set_blocking(fd, False)
    chunks = []
    with contextlib.suppress(OSError):
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


MONITOR_GONE = 255  # the status of an exec whose monitor died without telling its exit


class MonitorExec:
    """A `crun exec` the container's monitor runs for us; Popen's poll/wait/kill shape.

    The connection carries {"exit": code} at the end; closing our sending side
    (kill) or dying makes the monitor kill the exec, unless {"detach": true}
    was sent on it first (detach).
    """

    def __init__(self, conn: socket.socket, pid: int) -> None:
        self.conn = conn
        self.pid = pid
        self.returncode: Optional[int] = None
        self._lock = threading.Lock()

    def poll(self) -> Optional[int]:
        if self.returncode is None:
            if proc.wait_readable([self.conn.fileno()], 0):
                self.wait()
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        with self._lock:
            if self.returncode is None:
                self.conn.settimeout(timeout)
                try:
                    line = _read_line(self.conn)
                except socket.timeout:
                    raise ToolError("crun", f"exec still running after {timeout}s") from None
                except OSError:
                    line = b""
                self.returncode = int(json.loads(line).get("exit", MONITOR_GONE)) if line else MONITOR_GONE
            return self.returncode

    def kill(self) -> None:
        """Have the monitor kill the exec (our EOF is its signal; not once detached); wait() still gets the code."""
        with contextlib.suppress(OSError):
            self.conn.shutdown(socket.SHUT_WR)

    def detach(self, output: List[int], drain: bool = False) -> None:
        """Let the exec outlive us (docker's `exec -d`); the monitor drains output once we are gone.

        drain: from now on, for output we never read (a detached exec's pty).
        """
        message = b'{"detach": true, "drain": true}\n' if drain else b'{"detach": true}\n'
        with contextlib.suppress(OSError):
            socket.send_fds(self.conn, [message], output)

    def close(self) -> None:
        self.conn.close()


class ExecProcess:
    """A running exec: its stdio and, from wait(), the process's exit code.

    crun exec exits with the process's status (128+N when killed by signal N,
    as docker reports). Without a TTY, stdin/stdout/stderr are pipes to the
    process; with one, master_fd is the pty (read output, write input) and
    stderr is crun's own. handle is a MonitorExec (or a Popen of crun).
    """

    def __init__(self, handle: Any, process_file: str, master_fd: int = -1, stdin: Optional[IO[bytes]] = None,
                 stdout: Optional[IO[bytes]] = None, stderr: Optional[IO[bytes]] = None) -> None:
        self.handle = handle
        self.process_file = process_file
        self.master_fd = master_fd
        self.tty = master_fd >= 0
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr

    @property
    def pid(self) -> int:
        return int(self.handle.pid)

    def wait(self, timeout: Optional[float] = None) -> int:
        return int(self.handle.wait(timeout))

    def kill(self) -> None:
        """End the exec's process (its client went away)."""
        with contextlib.suppress(OSError):
            self.handle.kill()

    def detach(self, drain: bool = False) -> None:
        """The exec runs on without a client, also across a daemon stop or crash, as docker's does.

        Its output fds go to the monitor with it, to read and drop once we are
        gone: a process writing to a pipe nobody reads would die of EPIPE, and
        one whose pty master closed of SIGHUP. drain: the monitor reads them
        from now on, for output nobody here reads (a pty would fill and block
        the process). A crun run by us (an old monitor) can't be handed over:
        that exec still ends with the daemon.
        """
        if isinstance(self.handle, MonitorExec):
            output = [self.master_fd] if self.tty else [s.fileno() for s in (self.stdout, self.stderr) if s]
            self.handle.detach(output, drain=drain)

    def resize(self, height: int, width: int) -> None:
        if self.master_fd >= 0:
            set_winsize(self.master_fd, height, width)

    def close(self) -> None:
        """Release our ends; the exec is over (closing the monitor's connection would end it)."""
        fs.close_ends(self.master_fd, self.stdin, self.stdout, self.stderr)
        self.master_fd = -1
        if isinstance(self.handle, MonitorExec):
            self.handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.process_file)

    def __enter__(self) -> "ExecProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
