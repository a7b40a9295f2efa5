"""What the daemon and a container's monitor agree on (the monitor program is runtime/monitor.py).

The supervisor (daemon side) and the monitor (started by the zygote, or as
`python -m rootless.runtime.monitor CONFIG READY_FD`) share only this module:
the monitor's config.json (MonitorConfig), the file and socket names in its
dir, and the small helpers both ends use. The daemon never imports the
monitor program itself (tests/unit/test_architecture.py).

Messages, one JSON line each (the monitor's docstring says what it does with them):
- READY_FD and ready.json: {"pid": N, "ports": [...]} or {"error": "..."}.
- ctl.sock: {"start": true}, {"resize": [h, w]}, or {"exec": {"process": FILE,
  "console": PATH|null}} with the exec's stdio as SCM_RIGHTS fds, answered
  {"pid": N} then {"exit": code}; on that connection the daemon may send
  {"detach": true} with the exec's output fds (the monitor drains them once the
  daemon is gone, and the exec outlives it).
- attach.sock: {"stdin": b, "stdout": b, "stderr": b} answered {"ok": true},
  then stdcopy frames one way and raw stdin bytes the other.
- exit.json: {"ExitCode", "FinishedAt", "Signal"}.
- monitor.pid: "PID STARTTIME" (process_start_time tells a recycled pid).
"""
from __future__ import annotations

import array
import errno
import fcntl
import os
import socket
import struct
import termios
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from rootless.runtime.crun import Crun
from rootless.runtime.logs import LogSettings
from rootless.util import proc

CREATE_TIMEOUT = 60.0
SUN_PATH_MAX = 107


@dataclass
class MonitorConfig:
    """Everything a monitor needs; written by the supervisor as its config.json."""

    container_id: str
    bundle: str
    crun_binary: str
    crun_root: str
    cgroup_manager: str
    log_path: str
    monitor_dir: str
    log_max_size: int = -1
    log_max_files: int = 1
    log_settings: Dict[str, Any] = field(default_factory=dict)  # runtime.logs.LogSettings; {}: json-file
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    network: str = "none"  # "slirp4netns" or "pasta": start it for the container's netns
    ports: List[Dict[str, Any]] = field(default_factory=list)
    allow_host_loopback: bool = False
    pasta_options: List[str] = field(default_factory=list)  # network "pasta": the user's, allow-listed
    # slirp.Features.to_json(), detected once by the daemon: saves a `slirp4netns --help`
    # (~8 ms) per container start. Empty: the monitor asks the binary itself.
    slirp_features: Dict[str, bool] = field(default_factory=dict)
    log_level: str = "info"
    # The spec limits memory: an OOM kill is likely and docker reports it (State.OOMKilled).
    memory_limited: bool = False

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "MonitorConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def log_settings_of(self) -> LogSettings:
        """The log driver and its options; a config without them (an older daemon's) means json-file."""
        if self.log_settings:
            return LogSettings.from_json(self.log_settings)
        return LogSettings(max_size=self.log_max_size, max_files=self.log_max_files)

    @property
    def crun(self) -> Crun:
        return Crun(self.crun_binary, self.crun_root, self.cgroup_manager)

    def file(self, name: str) -> str:
        return os.path.join(self.monitor_dir, name)


# File names inside the monitor dir; config.Paths spells the same full paths.
ATTACH, CONTROL, CONSOLE, SLIRP = "attach.sock", "ctl.sock", "console.sock", "slirp.sock"
PIDFILE, MONITOR_PIDFILE, EXIT, LOG = "container.pid", "monitor.pid", "exit.json", "monitor.log"
PASTA_PIDFILE = "pasta.pid"
# The ready report again, for a daemon killed before it read it from READY_FD (supervisor.resume_start).
READY = "ready.json"


def connect_unix(path: str, timeout: Optional[float] = 10.0, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """Connect to a UNIX socket (a monitor's, or conmon's SOCK_SEQPACKET attach socket), through
    /proc/self/fd when the path is longer than sun_path holds."""
    conn = socket.socket(socket.AF_UNIX, kind | socket.SOCK_CLOEXEC)
    conn.settimeout(timeout)
    try:
        if len(path) <= SUN_PATH_MAX:
            conn.connect(path)
            return conn
        dir_fd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            conn.connect(f"/proc/self/fd/{dir_fd}/{os.path.basename(path)}")
        finally:
            os.close(dir_fd)
        return conn
    except BaseException:
        conn.close()
        raise


def receive_fd(conn: socket.socket) -> int:
    """The fd crun sends with SCM_RIGHTS over --console-socket (the pty master)."""
    fds = array.array("i")
    _, ancdata, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    if not fds:
        raise OSError(errno.EBADMSG, "no fd received on the console socket")
    return fds[0]


def set_winsize(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def accept_console(listener: socket.socket, creator: Any, timeout: float = CREATE_TIMEOUT) -> int:
    """Wait for crun to connect and send the pty master; -1 if crun exits first."""
    deadline = time.monotonic() + timeout
    listener.settimeout(0.05)
    while time.monotonic() < deadline:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            if creator.poll() is not None:
                return -1
            continue
        with conn:
            return receive_fd(conn)
    return -1


def process_start_time(pid: object) -> Optional[int]:
    """Field 22 of /proc/PID/stat (clock ticks after boot); None for a gone or zombie process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError as exc:
        if exc.errno in proc.OUT_OF_FDS:  # can't tell: not "gone" (issue 7)
            raise
        return None
    fields = stat[stat.rfind(b")") + 2:].split()  # comm may hold spaces and parens
    if len(fields) < 20 or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])
