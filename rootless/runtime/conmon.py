"""conmon (podman's per-container monitor, a C program) as a container's monitor.

Why: issue 13 asks per-container memory no higher than podman's. Our Python
monitor (runtime/monitor.py) costs ~5 MB PSS per container, conmon ~0.5 MB; no
Python process per container gets there. So, as podman does, conmon runs
`crun create`, holds the container's stdio, writes its log and its exit
status, and outlives the daemon. The Python monitor stays for what conmon
can't do (supervisor.py says which); this module is everything about driving
conmon: its argv, launch, exit record, resize, attach.

How podman drives conmon 2.1 (pkg/libpod/oci_conmon_linux.go), and so do we:
- `--api-version 1`: conmon reports on the _OCI_SYNCPIPE fd, one JSON line
  {"data": PID} once `crun create` is done, {"data": -1, "message": STDERR}
  when it failed.
- conmon forks into the background (the pid in --conmon-pidfile) and is its
  container's subreaper; the daemon runs `crun start` itself.
- --persist-dir is the monitor dir: conmon writes "exit" (the status: 128+N
  after signal N) and "oom" (an OOM kill seen) there. FinishedAt is the exit
  file's mtime.
- --exit-command is `crun delete --force ID`: conmon runs it after the exit
  file and exits once it is done, so once conmon's pid is gone crun's state is
  too. supervisor.wait_exit returns at the exit file (the init's pidfd tells
  when it is due), remove() waits on conmon's pidfd unless the container goes
  for good.
- --full-attach: the attach socket (SOCK_SEQPACKET) is BUNDLE/attach, bound
  through /proc/self/fd so long paths work; output packets start with one
  byte naming the pipe (2 stdout, 3 stderr), packets sent to it are stdin,
  and a client's EOF closes the container's stdin unless --leave-stdin-open.
- BUNDLE/ctl is a fifo: "1 H W\\n" resizes the pty.
- `-l k8s-file:PATH` writes "RFC3339NANO stdout|stderr P|F text" lines
  (runtime/logs.py reads them); --log-size-max starts the file over when
  full, as our json-file writer does with max-file 1.
"""
from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import select
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from rootless.errors import FailedPrecondition, ToolError
from rootless.runtime.crun import Crun
from rootless.runtime.monitor_protocol import LOG, MONITOR_PIDFILE, PIDFILE, SUN_PATH_MAX, MonitorConfig, connect_unix
from rootless.util import proc, threads
from rootless.wire import stdcopy
from rootless.wire.times import NANO, format_rfc3339

logger = logging.getLogger(__name__)

CONMON, PYTHON = "conmon", "python"
MONITORS = ("auto", CONMON, PYTHON)  # the `monitor` setting (config/settings.py)
DEFAULT_BINARY = "/usr/bin/conmon"
# Files conmon writes: its own pid (--conmon-pidfile: our monitor.pid, which the supervisor then
# rewrites as "PID STARTTIME"; until then the cmdline tells conmon from a recycled pid) and,
# in --persist-dir, the exit status and the OOM mark.
CONMON_PIDFILE, EXIT, OOM = MONITOR_PIDFILE, "exit", "oom"
# In the bundle dir (conmon's choice): the attach socket (--full-attach) and the control fifo.
ATTACH, CONTROL = "attach", "ctl"
STDOUT_PIPE, STDERR_PIPE = 2, 3  # conmon's stdpipe_t, the first byte of each output packet
RESIZE_EVENT = 1  # conmon's WIN_RESIZE_EVENT on the ctl fifo
STDIN_PACKET = 8192  # conmon reads a packet into a 32 KiB buffer: stay well below
READ_SIZE = 65536  # output packets are at most 8 KiB + 1


def find_binary() -> Optional[str]:
    """conmon's path: the Debian package's, else the first on PATH; None when there is none."""
    if os.access(DEFAULT_BINARY, os.X_OK):
        return DEFAULT_BINARY
    return proc.which(CONMON)


# Whether "auto" picks conmon where installed (else ours). On: every suite passes with conmon once
# execs run under conmon too (runtime/conmon_exec.py, branch conmon-exec); without that, exec
# guarantees (an exec dies with its client, a detached one outlives the daemon) are ours only.
AUTO_PICKS_CONMON = True


def resolve_monitor(setting: str) -> Tuple[str, Optional[str]]:
    """(monitor, conmon's path) for the `monitor` setting ("auto": see AUTO_PICKS_CONMON).

    Raises:
        FailedPrecondition: "conmon" asked for and not installed.
    """
    if setting == PYTHON or (setting != CONMON and not AUTO_PICKS_CONMON):
        return PYTHON, None
    found = find_binary()
    if found is None and setting == CONMON:
        raise FailedPrecondition("monitor conmon: not found on this host",
                                 hint='apt install conmon, or set monitor = "python" (ROOTLESS_MONITOR)')
    return (CONMON, found) if found else (PYTHON, None)


def python_only_reason(config: MonitorConfig) -> Optional[str]:
    """Why this container needs the Python monitor; None when conmon can monitor it.

    The Python monitor's remaining jobs: starting a container's own slirp4netns
    or pasta (--network slirp4netns|pasta), and logs conmon can't write the way
    docker does: several rotated files (max-file > 1, the local driver's
    default, compression) and journald (docker's fields and dual logging); and
    telling an OOM kill of a container with a memory limit.
    """
    if config.network != "none":
        return f"network {config.network}: the Python monitor starts its helper"
    if config.memory_limited and config.cgroup_manager != "disabled":
        # conmon 2.1.6 reads memory.events once its loop sees the exit, after systemd removed
        # the emptied scope: OOMKilled stayed false (tests/vm). Ours reads it on every change.
        return "a memory limit: conmon misses OOM kills (State.OOMKilled)"
    settings = config.log_settings_of()
    if settings.driver == "journald":
        return "log driver journald: docker's journal fields"
    if settings.keep_file and settings.max_files > 1:
        return f"log rotation over {settings.max_files} files"
    if settings.keep_file and ":" in config.log_path:
        return "log path with ':' (conmon's -l separator)"
    return None


# What conmon and crun (its child and exit command) must not see of the daemon's environment:
# systemd's socket activation (LISTEN_*; NOTIFY_SOCKET would have crun hand the daemon's
# notify socket to the container) and the locale: conmon calls setlocale(LC_ALL, ""), and with
# LANG=C.UTF-8 opens and maps a dozen locale files first, ~0.3-0.5 ms of every start here
# (`conmon --version` 3.1-3.4 ms against 2.7-2.9 without); neither prints anything a locale
# changes, and a container's environment is its spec's.
DROPPED_ENV = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET")
LOCALE_VARIABLES = ("LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "LC_NUMERIC", "LC_TIME",
                    "LC_COLLATE", "LC_MONETARY", "LC_PAPER", "LC_NAME", "LC_ADDRESS", "LC_TELEPHONE",
                    "LC_MEASUREMENT", "LC_IDENTIFICATION")


_NOT_FOR_CONMON = frozenset(DROPPED_ENV + LOCALE_VARIABLES)


def tool_env(environ: Mapping[str, str]) -> Dict[str, str]:
    """The daemon's environment for a conmon, without DROPPED_ENV and LOCALE_VARIABLES."""
    return {name: value for name, value in environ.items() if name not in _NOT_FOR_CONMON}


def conmon_argv(binary: str, crun: Crun, config: MonitorConfig) -> List[str]:
    """The conmon command for one start of config's container (crun.binary: an absolute path)."""
    cid, directory = config.container_id, config.monitor_dir
    crun_args = crun.argv()[1:]  # --cgroup-manager=M --root STATE
    argv = [binary, "--api-version", "1", "-c", cid, "-u", cid, "-n", cid, "-r", crun.binary,
            "-b", config.bundle, "-p", os.path.join(directory, PIDFILE),
            "-P", os.path.join(directory, CONMON_PIDFILE), "--persist-dir", directory,
            "--full-attach", "--socket-dir-path", directory, "--no-sync-log",
            "--exit-command", crun.binary]
    for arg in crun_args:
        argv += ["--runtime-arg", arg]
    for arg in crun_args + ["delete", "--force", cid]:
        argv += ["--exit-command-arg", arg]
    argv += _log_args(config)
    argv += ["-t"] if config.tty else []
    if config.open_stdin:
        argv += ["-i"] + ([] if config.stdin_once else ["--leave-stdin-open"])
    return argv


def _log_args(config: MonitorConfig) -> List[str]:
    settings = config.log_settings_of()
    if not settings.keep_file:
        return ["-l", "none"]
    size = ["--log-size-max", str(settings.max_size)] if settings.max_size > 0 else []
    return ["-l", f"k8s-file:{config.log_path}"] + size


class Conmon:
    """Runs conmon for containers of one engine (one crun state root and cgroup manager)."""

    def __init__(self, binary: str, crun: Crun) -> None:
        self.binary = binary
        absolute = crun.binary if os.path.isabs(crun.binary) else (proc.which(crun.binary) or crun.binary)
        self.crun = Crun(absolute, crun.state_root, crun.cgroup_manager)

    def launch(self, config: MonitorConfig, timeout: float,
               on_forked: Optional[Callable[[int], None]] = None) -> Tuple[int, int]:
        """Start conmon, which runs `crun create`; (container pid, conmon pid) once created.

        on_forked(conmon pid) runs while crun create does (conmon's first process wrote the
        pid file as it exited), so what the caller keeps of conmon costs the start nothing.

        Raises:
            ToolError: conmon or crun create failed (crun's message inside).
        """
        sync_r, sync_w = os.pipe()
        pid_file = os.path.join(config.monitor_dir, CONMON_PIDFILE)
        try:
            self._start(config, sync_w, timeout)
            os.close(sync_w)
            sync_w = -1
            conmon_pid = read_pid(pid_file)
            if conmon_pid is not None and on_forked is not None:
                on_forked(conmon_pid)
            pid = self._wait_created(config, sync_r, timeout)
        finally:
            for fd in (sync_r, sync_w):
                if fd >= 0:
                    os.close(fd)
        if conmon_pid is None:  # not written by the first process: maybe by now
            conmon_pid = read_pid(pid_file)
            if conmon_pid is None:
                raise ToolError(CONMON, "created the container but wrote no pid file",
                                stderr=log_tail(config.monitor_dir))
            if on_forked is not None:
                on_forked(conmon_pid)
        return pid, conmon_pid

    def _start(self, config: MonitorConfig, sync_w: int, timeout: float) -> None:
        """conmon forks into the background at once: its first process exits when the pid file is written."""
        env = tool_env(os.environ)
        env["_OCI_SYNCPIPE"] = str(sync_w)
        # -t: conmon binds crun's console socket as $TMPDIR/conmon-term.XXXXXX, with no way around
        # sun_path's 108 bytes: the monitors dir where it fits, else /tmp as podman has it.
        parent = os.path.dirname(config.monitor_dir)
        env["TMPDIR"] = parent if len(parent) + 24 <= SUN_PATH_MAX else "/tmp"
        log_fd = os.open(os.path.join(config.monitor_dir, LOG), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                         0o600)
        try:
            starter = proc.popen(conmon_argv(self.binary, self.crun, config), tool=CONMON, pass_fds=(sync_w,),
                                 env=env, cwd=config.monitor_dir, stderr=log_fd)
        finally:
            os.close(log_fd)
        code = starter.wait(timeout)
        if code != 0:
            raise ToolError(CONMON, f"exited with status {code}", returncode=code,
                            stderr=log_tail(config.monitor_dir))

    def _wait_created(self, config: MonitorConfig, sync_r: int, timeout: float) -> int:
        """conmon's sync report: the container's pid, or crun create's error."""
        report = read_sync_line(sync_r, timeout)
        if report is None:
            raise ToolError(CONMON, "exited before the container was created", stderr=log_tail(config.monitor_dir))
        pid = int(report.get("data", -1))
        if pid <= 0:
            message = str(report.get("message") or "")
            raise ToolError("crun", "create failed", stderr=message or log_tail(config.monitor_dir))
        return pid


def read_sync_line(fd: int, timeout: float) -> Optional[Dict[str, Any]]:
    """One JSON line from conmon's sync pipe; None at EOF before it."""
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ToolError(CONMON, f"container not created after {timeout}s")
        if not proc.wait_readable([fd], remaining):
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        data += chunk
    report: Dict[str, Any] = json.loads(data.split(b"\n", 1)[0])
    return report


def read_pid(path: str) -> Optional[int]:
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())
    except OSError as exc:
        if exc.errno in proc.OUT_OF_FDS:  # not "gone" (issue 7)
            raise
        return None
    except ValueError:
        return None


def log_tail(monitor_dir: str) -> str:
    with contextlib.suppress(OSError):
        with open(os.path.join(monitor_dir, LOG), "rb") as f:
            return f.read()[-4096:].decode("utf-8", "replace")
    return ""


def exit_record(monitor_dir: str) -> Optional[Dict[str, Any]]:
    """docker's exit fields from conmon's exit file; None while there is none.

    conmon writes 128+N for a container killed by signal N, as docker reports
    it; Signal is a guess from that (an `exit 137` reads the same).
    """
    path = os.path.join(monitor_dir, EXIT)
    try:
        with open(path, "rb") as f:
            text = f.read()
            finished_ns = os.fstat(f.fileno()).st_mtime_ns
    except FileNotFoundError:
        return None
    try:
        code = int(text.strip())
    except ValueError:  # conmon writes it atomically (g_file_set_contents): torn only by a power cut
        logger.warning("ignoring %s: not a number", path)
        return None
    record: Dict[str, Any] = {"ExitCode": code, "FinishedAt": format_rfc3339(finished_ns, NANO),
                              "Signal": code - 128 if 128 < code < 128 + 65 else None}
    if os.path.exists(os.path.join(monitor_dir, OOM)):
        record["OOMKilled"] = True
    return record


def resize(bundle: str, height: int, width: int) -> None:
    """Set the pty size through conmon's ctl fifo.

    Raises:
        FailedPrecondition: conmon is gone (no reader on the fifo).
    """
    try:
        fd = os.open(os.path.join(bundle, CONTROL), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.ENOENT):
            raise FailedPrecondition("can't resize: container is not running: no monitor") from exc
        raise
    try:
        os.write(fd, f"{RESIZE_EVENT} {int(height)} {int(width)}\n".encode())
    finally:
        os.close(fd)


def connect_attach(bundle: str) -> socket.socket:
    """A blocking connection to conmon's attach socket (SOCK_SEQPACKET: one packet per write)."""
    return connect_unix(os.path.join(bundle, ATTACH), timeout=None, kind=socket.SOCK_SEQPACKET)


def attach(bundle: str, tty: bool, stdin: bool, stdout: bool, stderr: bool) -> socket.socket:
    """Our attach contract over conmon's socket: stdcopy frames out, raw stdin in, SHUT_WR = EOF.

    The returned stream socket's peer is pumped by two daemon threads
    (AttachBridge), so engine/container_io.py talks to either monitor alike.

    Raises:
        FailedPrecondition: conmon is gone.
    """
    try:
        upstream = connect_attach(bundle)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise FailedPrecondition("can't attach: container is not running: no monitor") from exc
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    bridge = AttachBridge(upstream, theirs, tty=tty, stdin=stdin, streams=_streams(stdout, stderr))
    # One thread, which starts the other, and started by the starter thread (start_soon): a
    # Thread.start() is a hand-off the caller waits for (~0.1 ms, more on a busy host), on the way
    # to `crun start`. What conmon sends meanwhile waits in the connected socket.
    threads.start_soon(bridge.pump, (), "conmon-attach")
    return ours


def _streams(stdout: bool, stderr: bool) -> Tuple[int, ...]:
    return tuple(pipe for pipe, wanted in ((STDOUT_PIPE, stdout), (STDERR_PIPE, stderr)) if wanted)


class AttachBridge:
    """Pumps between conmon's attach socket (upstream) and our client's socket (downstream)."""

    def __init__(self, upstream: socket.socket, downstream: socket.socket, *, tty: bool, stdin: bool,
                 streams: Tuple[int, ...]) -> None:
        self.upstream, self.downstream = upstream, downstream
        self.tty, self.stdin, self.streams = tty, stdin, streams
        self._lock = threading.Lock()
        self._running = 2  # pumps; the last one out closes both sockets

    def pump(self) -> None:
        """Both pumps: input in a thread of its own, output in this one."""
        try:
            threading.Thread(target=self.pump_input, name="conmon-attach", daemon=True).start()
        except RuntimeError:  # no thread to be had: the client gets EOF, not an attach that never ends
            self.upstream.close()
            self.downstream.close()
            return
        self.pump_output()

    def pump_output(self) -> None:
        """conmon's packets as stdcopy frames (a TTY's as stream 1); its close is our EOF."""
        poller = select.poll()
        poller.register(self.upstream, select.POLLIN)
        poller.register(self.downstream, 0)  # POLLHUP only: the client closed both ways (not a SHUT_WR)
        try:
            while True:
                if any(fd == self.downstream.fileno() for fd, _ in poller.poll()):
                    break
                packet = self.upstream.recv(READ_SIZE)
                if not packet:
                    break
                if packet[0] not in self.streams:
                    continue
                stream = stdcopy.STDOUT if self.tty or packet[0] == STDOUT_PIPE else stdcopy.STDERR
                self.downstream.sendall(stdcopy.frame(stream, packet[1:]))
        except OSError:
            pass
        with contextlib.suppress(OSError):
            self.downstream.shutdown(socket.SHUT_WR)
        self._done()

    def pump_input(self) -> None:
        """Raw stdin as packets; the client's EOF becomes ours (conmon then closes stdin, StdinOnce)."""
        try:
            while True:
                data = self.downstream.recv(READ_SIZE)
                if not data:
                    break
                if not self.stdin:
                    continue
                for start in range(0, len(data), STDIN_PACKET):
                    self.upstream.sendall(data[start:start + STDIN_PACKET])
            if self.stdin:
                self.upstream.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self._done()

    def _done(self) -> None:
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:
            self.upstream.close()
            self.downstream.close()
