"""The engine's side of the per-container monitors (runtime/monitor.py).

launch() starts a monitor and waits for its ready line; start/attach/resize
talk to its sockets; read_exit/wait_exit/is_alive find out what happened,
also after a daemon restart (the monitor's pid file and exit.json are on
disk); kill and exec go to crun directly, as podman does next to conmon.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

import rootless
from rootless.config.paths import Paths
from rootless import errors
from rootless.errors import FailedPrecondition, Internal, RootlessError, ToolError
from rootless.runtime.crun import Crun
from rootless.runtime.logs import format_rfc3339_ns
from rootless.runtime.monitor import SUN_PATH_MAX, MonitorConfig, accept_console, process_start_time, set_winsize
from rootless.runtime.network import slirp
from rootless.runtime.seccomp_cache import SeccompCache
from rootless.runtime.zygote import Zygote
from rootless.util import fs, proc

LAUNCH_TIMEOUT = 30.0
# A monitor that wrote exit.json may still be stopping slirp4netns (~20 ms).
FINISHING_TIMEOUT = 5.0
MONITOR_MARKER = b"rootless.runtime.monitor"


@dataclass(frozen=True)
class Launched:
    """What a ready monitor reported."""

    container_id: str
    pid: int
    monitor_pid: int
    ports: List[Dict[str, Any]] = field(default_factory=list)


def connect_unix(path: str, timeout: Optional[float] = 10.0) -> socket.socket:
    """Connect to a UNIX socket, through /proc/self/fd when the path is too long."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        if len(path) <= SUN_PATH_MAX:
            conn.connect(path)
            return conn
        dir_fd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY)
        try:
            conn.connect(f"/proc/self/fd/{dir_fd}/{os.path.basename(path)}")
        finally:
            os.close(dir_fd)
        return conn
    except BaseException:
        conn.close()
        raise


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


def _is_monitor(pid: int, container_id: str, started: Optional[int] = None) -> bool:
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
    return MONITOR_MARKER in cmdline and container_id.encode() in cmdline


def _python_env() -> Dict[str, str]:
    """The monitor imports this same rootless package, installed or not."""
    env = dict(os.environ)
    top = os.path.dirname(os.path.dirname(os.path.abspath(rootless.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (top, env.get("PYTHONPATH", "")) if p)
    return env


class Supervisor:
    """Starts and talks to monitors; one per engine."""

    def __init__(self, paths: Paths, crun: Crun, python: str = sys.executable, use_zygote: bool = True,
                 cache_seccomp: bool = True) -> None:
        self.paths = paths
        self.crun = crun
        self.python = python
        self.zygote = Zygote(python, _python_env()) if use_zygote else None
        self.seccomp: Optional[SeccompCache] = SeccompCache(paths.seccomp_cache, crun.binary) if cache_seccomp else None
        self._lock = threading.Lock()
        self._exit_fds: Dict[str, int] = {}  # container id -> read end of its monitor's ready pipe

    def new_config(self, container_id: str, bundle: str, log_path: str, **options: Any) -> MonitorConfig:
        """A MonitorConfig with this engine's crun and paths; options are its other fields."""
        return MonitorConfig(
            container_id=container_id, bundle=bundle, log_path=log_path,
            crun_binary=self.crun.binary, crun_root=self.crun.state_root,
            cgroup_manager=self.crun.cgroup_manager,
            monitor_dir=self.paths.monitor_dir(container_id), **options)

    # -- launch ---------------------------------------------------------------
    def launch(self, config: MonitorConfig, timeout: float = LAUNCH_TIMEOUT) -> Launched:
        """Start a monitor that runs `crun create`; return once the container is created.

        Raises:
            Conflict: a monitor for this container still runs.
            ToolError: crun or slirp4netns failed (their message inside).
        """
        container_id = config.container_id
        if self.is_alive(container_id) and self.read_exit(container_id) is not None:
            self._sleep_until_monitor_exits(container_id, FINISHING_TIMEOUT)  # it is stopping slirp4netns
        if self.is_alive(container_id):
            raise errors.Conflict(f"can't create container: {container_id}: its monitor is still running")
        self._forget_exit_notifier(container_id)
        self._reset_dir(container_id)
        fs.ensure_dir(self.paths.crun_state)
        if config.network == "slirp4netns" and not config.slirp_features:
            config.slirp_features = slirp.detect_features().to_json()  # cached in this process
        fs.atomic_write_json(self.paths.monitor_config(container_id), config.to_json(), 0o600)
        seccomp_key = self.seccomp.prepare_bundle(config.bundle) if self.seccomp else None
        ready_r, ready_w = os.pipe()
        try:
            self._start_monitor(self.paths.monitor_config(container_id), ready_w, timeout)
            os.close(ready_w)
            ready_w = -1
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
        if seccomp_key and self.seccomp:  # created, not started: crun's state holds the compiled filter
            self.seccomp.store(seccomp_key, os.path.join(self.crun.state_root, container_id, "seccomp.bpf"))
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

    def start(self, container_id: str) -> None:
        """Run `crun start` in the monitor (the container was created by launch)."""
        self._control(container_id, {"start": True})

    def resize(self, container_id: str, height: int, width: int) -> None:
        self._control(container_id, {"resize": [height, width]}, timeout=5.0)

    def attach(self, container_id: str, stdin: bool, stdout: bool, stderr: bool) -> socket.socket:
        """A blocking socket with the container's output as stdcopy frames (TTY: all stream 1).

        Send raw stdin bytes on it; shutdown(SHUT_WR) is EOF for StdinOnce
        containers. The monitor closes it after the container's last output.
        """
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
        """exit.json ({"ExitCode", "FinishedAt", "Signal"}) once the container has exited."""
        record: Optional[Dict[str, Any]] = fs.read_json(self.paths.exit_file(container_id))
        return record

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
        return bool(pid) and _is_monitor(pid, container_id, started)  # type: ignore[arg-type]

    def wait_exit(self, container_id: str, timeout: Optional[float] = None) -> Optional[Dict[str, Any]]:
        """The exit record once there is one; None on timeout.

        A monitor that died without writing one (SIGKILL) gives ExitCode 255
        and an "Error", so the engine can still mark the container stopped.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = self.read_exit(container_id)
            if record is not None:
                self._forget_exit_notifier(container_id)
                return record
            if not self.is_alive(container_id):
                self._forget_exit_notifier(container_id)
                return self.read_exit(container_id) or {
                    "ExitCode": 255, "Signal": None, "FinishedAt": format_rfc3339_ns(time.time_ns()),
                    "Error": f"monitor of container {container_id} died without an exit status"}
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            self._sleep_until_monitor_exits(container_id, remaining)

    def _sleep_until_monitor_exits(self, container_id: str, timeout: Optional[float]) -> None:
        """Block until the monitor closes its ready pipe (exit.json written) or exits; else poll."""
        pid, started = self._monitor_identity(container_id)
        try:
            pidfd = os.pidfd_open(pid) if pid else -1  # Linux 5.3+, Python 3.9+
        except (OSError, AttributeError):
            pidfd = -1
        if pidfd < 0:
            time.sleep(0.05 if timeout is None else min(0.05, timeout))
            return
        notifier = self._exit_notifier(container_id)
        try:
            if _is_monitor(pid, container_id, started):  # type: ignore[arg-type]  # not a recycled pid
                readable = proc.wait_readable([pidfd] + ([notifier] if notifier >= 0 else []), timeout)
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

    def remove(self, container_id: str, timeout: float = 10.0) -> None:
        """Kill what runs, let the monitor finish, and delete its dir."""
        if self.is_alive(container_id) and self.read_exit(container_id) is None:
            self.crun.delete(container_id)  # --force: kills init; the monitor then exits
            self.wait_exit(container_id, timeout)
        elif self.crun.has_state(container_id):
            # The monitor runs `crun delete` before it writes exit.json, so state is left
            # only when it died; skipping the call saves ~8 ms per removal (bench/README.md).
            self.crun.delete(container_id)
        shutil.rmtree(self.paths.monitor_dir(container_id), ignore_errors=True)

    # -- exec -------------------------------------------------------------------
    def exec(self, container_id: str, exec_id: str, process: Dict[str, Any], *, stdin: bool = False,
             detach: bool = False) -> "ExecProcess":
        """Start `crun exec` for process (an OCI process object; "terminal" picks the TTY).

        The caller owns the result's stdio (pipes, or the pty master) and
        gets the exit code from wait(); with detach crun returns once the
        process runs and there is nothing to wait for.

        Raises:
            ToolError: crun refused (no such container, bad process).
        """
        tty = bool(process.get("terminal"))
        process_file = self.paths.exec_process_file(container_id, exec_id)
        fs.atomic_write_json(process_file, process, 0o600)
        if tty:
            return self._exec_with_pty(container_id, exec_id, process_file, detach)
        argv = self.crun.exec_argv(container_id, process_file, detach=detach)
        child = proc.popen(argv, tool="crun", stdin=proc.PIPE if stdin else proc.DEVNULL,
                           stdout=proc.PIPE, stderr=proc.PIPE)
        return ExecProcess(child, process_file)

    def _exec_with_pty(self, container_id: str, exec_id: str, process_file: str, detach: bool) -> "ExecProcess":
        fs.ensure_dir(self.paths.exec_sockets)
        console = self.paths.exec_console_socket(exec_id)
        with contextlib.ExitStack() as stack:
            listener = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(console)
            listener.bind(console)
            stack.callback(os.unlink, console)
            listener.listen(1)
            argv = self.crun.exec_argv(container_id, process_file, console_socket=console, detach=detach)
            child = proc.popen(argv, tool="crun")
            master = accept_console(listener, child, LAUNCH_TIMEOUT)
        if master < 0:
            child.wait(LAUNCH_TIMEOUT)
            stderr = child.stderr.read().decode("utf-8", "replace") if child.stderr else ""
            raise ToolError("crun", f"exec failed with status {child.returncode}", stderr=stderr)
        return ExecProcess(child, process_file, master)


class ExecProcess:
    """A running `crun exec`: its stdio and, from wait(), the process's exit code.

    crun exec exits with the process's status (128+N when killed by signal N,
    as docker reports). Without a TTY, stdin/stdout/stderr are the pipes of
    the crun process; with one, master_fd is the pty (read output, write input).
    """

    def __init__(self, child: "Any", process_file: str, master_fd: int = -1) -> None:
        self.child = child
        self.process_file = process_file
        self.master_fd = master_fd
        self.tty = master_fd >= 0

    @property
    def pid(self) -> int:
        return int(self.child.pid)

    def wait(self, timeout: Optional[float] = None) -> int:
        returncode = int(self.child.wait(timeout))
        return returncode

    def resize(self, height: int, width: int) -> None:
        if self.master_fd >= 0:
            set_winsize(self.master_fd, height, width)

    def close(self) -> None:
        """Release our ends (the process keeps running if it still does)."""
        if self.master_fd >= 0:
            os.close(self.master_fd)
            self.master_fd = -1
        for stream in (self.child.stdin, self.child.stdout, self.child.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.process_file)

    def __enter__(self) -> "ExecProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
