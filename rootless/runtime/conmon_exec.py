"""Exec sessions in a conmon-monitored container: `conmon --exec`, as podman runs them.

podman's libpod/oci_conmon_exec_linux.go is the model. One conmon per exec runs
`crun exec --detach`, reaps the process as its subreaper and reports on the sync
pipe: {"data": PID} once the process runs, {"data": CODE} when it exits
(128+N after signal N), or {"data": -1, "message": crun's stderr} when crun
refused (e.g. "executable file `x` not found": engine/execs.py makes that 127).
conmon owns the process's stdio. An attached exec's is reached through the
exec's attach socket (SOCK_SEQPACKET: each output message starts with a byte
naming the stream; input is raw; our shutdown(SHUT_WR) closes the process's
stdin); with --exec-attach conmon runs crun only after our second start-pipe
write, once we are connected, so no early output is lost. A thread bridges the
socket to the pipes (or, with a TTY, the socketpair standing in for the pty
master) that engine/execs.py reads as from any exec: its code doesn't change.
A detached exec (`exec -d`) has no bridge: conmon reads its output and drops it
(`--log-path none`), also once the daemon is gone.

What conmon does not do that the Python monitor did: end an attached exec
when the daemon dies. A small `sh` guard per attached exec (GUARD_SCRIPT)
holds a pipe from the daemon and SIGKILLs the process on EOF, unless the
daemon said "detach" (the client left with the detach keys) or "done" first.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import os
import shutil
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import IO, Any, Callable, Dict, List, Optional, Tuple

from rootless.errors import RootlessError, ToolError
from rootless.runtime import conmon as conmon_mod
from rootless.runtime.conmon import STDERR_PIPE, STDIN_PACKET, STDOUT_PIPE
from rootless.runtime.crun import Crun
from rootless.util import fs, proc

logger = logging.getLogger(__name__)

START_TIMEOUT = 30.0
GONE = 255  # conmon died without telling the exit code (as MONITOR_GONE of the Python monitor)
OUTPUT_MAX = 8192 + 1  # conmon's STDIO_BUF_SIZE and the stream byte before it
# $1 the exec's pid, $2 its conmon's: SIGKILL the exec when the daemon's pipe ends without a word,
# only while conmon is still its parent (so a recycled pid is never hit).
GUARD_SCRIPT = """read -r word
[ -n "$word" ] && exit 0
while read -r key value; do
  [ "$key" = PPid: ] && [ "$value" = "$2" ] && kill -KILL "$1"
done < "/proc/$1/status"
"""


@dataclass(frozen=True)
class ExecLayout:
    """One exec's files: conmon's bundle dir (attach socket, ctl/winsz fifos) and what it writes."""

    directory: str

    @classmethod
    def for_exec(cls, process_file: str, exec_id: str) -> "ExecLayout":
        """Next to the exec's process.json, in its container's monitor dir (removed with it)."""
        return cls(os.path.join(os.path.dirname(process_file), f"conmon-exec-{exec_id[:16]}"))

    @property
    def pid_file(self) -> str:
        return os.path.join(self.directory, "pid")

    @property
    def conmon_pid_file(self) -> str:
        return os.path.join(self.directory, "conmon.pid")

    @property
    def runtime_log(self) -> str:
        return os.path.join(self.directory, "crun.log")

    @property
    def exit_dir(self) -> str:
        return os.path.join(self.directory, "exit")


def exec_argv(conmon: str, crun: Crun, container_id: str, exec_id: str, layout: ExecLayout, process_file: str,
              *, terminal: bool, stdin: bool, attach: bool) -> List[str]:
    """conmon's argv for one exec, as podman's (api version 1: the sync pipe names the pid, then the code).

    --full-attach puts the attach socket in the exec's dir (conmon binds it through
    /proc/self/fd, so the path's length doesn't matter); --log-path none: an output
    nobody is attached to is read and dropped.
    """
    argv = [conmon, "--api-version", "1", "--cid", container_id, "--cuuid", exec_id,
            "--runtime", crun.binary, "--bundle", layout.directory, "--full-attach",
            "--container-pidfile", layout.pid_file, "--conmon-pidfile", layout.conmon_pid_file,
            "--exit-dir", layout.exit_dir, "--log-path", "none",
            "--exec", "--exec-process-spec", process_file]
    argv += [f"--runtime-arg={arg}" for arg in crun.argv()[1:]]  # crun's global options: manager, state root
    argv += [f"--runtime-arg=--log={layout.runtime_log}"]  # its reason when conmon has none (TTY execs)
    argv += ["--exec-attach"] if attach else []
    argv += ["--stdin"] if stdin else []
    argv += ["--terminal"] if terminal else []
    return argv


def parse_sync(line: bytes) -> Tuple[int, str]:
    """(data, message) of one sync-pipe line; ValueError if it is not conmon's JSON."""
    report = json.loads(line)
    if not isinstance(report, dict) or not isinstance(report.get("data"), int):
        raise ValueError(f"not a conmon sync message: {line[:200]!r}")
    return int(report["data"]), str(report.get("message") or "")


class LineReader:
    """Lines from a pipe conmon writes JSON lines to; EOF gives b""."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def readline(self, timeout: Optional[float]) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError
            if not proc.wait_readable([self.fd], remaining):
                continue
            chunk = os.read(self.fd, 4096)
            if not chunk:
                line, self.buffer = self.buffer, b""
                return line
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _parent_pid(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("PPid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _descends_from(pid: int, ancestor: int, depth: int = 4) -> bool:
    """Whether ancestor is pid's parent, or (within depth) its parent's: for a moment after
    `crun exec --detach` returns, the process's parent may still be crun's intermediate child."""
    for _ in range(depth):
        parent = _parent_pid(pid)
        if parent is None or parent <= 1:
            return False
        if parent == ancestor:
            return True
        pid = parent
    return False


class ConmonSession:
    """The conmon of one exec: the process's pid, its exit code (wait), kill; Popen's shape."""

    def __init__(self, layout: ExecLayout, container_id: str, sync: LineReader, pid: int, conmon_pid: int) -> None:
        self.layout = layout
        self.container_id = container_id
        self.sync = sync
        self.pid = pid
        self.conmon_pid = conmon_pid
        self.returncode: Optional[int] = None
        self._lock = threading.Lock()

    def poll(self) -> Optional[int]:
        if self.returncode is None and self.sync.fd >= 0 and proc.wait_readable([self.sync.fd], 0):
            self.wait()
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        """The process's exit code from the sync pipe, else from conmon's exit file, else GONE."""
        with self._lock:
            if self.returncode is None:
                try:
                    line = self.sync.readline(timeout) if self.sync.fd >= 0 else b""
                except TimeoutError:
                    raise ToolError("conmon", f"exec still running after {timeout}s") from None
                self.returncode = self._code(line)
            return self.returncode

    def _code(self, line: bytes) -> int:
        with contextlib.suppress(ValueError):
            if line:
                return parse_sync(line)[0]
        try:  # conmon writes the file before the sync line: a line lost to a signal still has it
            with open(os.path.join(self.layout.exit_dir, self.container_id), encoding="ascii") as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return GONE

    def kill(self) -> None:
        """SIGKILL the process while it descends from its conmon (a pidfd pins it: no recycled pid is hit)."""
        if self.returncode is not None or self.pid <= 0:
            return
        try:
            pidfd = os.pidfd_open(self.pid)
        except OSError as exc:
            if exc.errno == errno.ENOSYS:  # Linux < 5.3: the same check, with a pid that could be recycled
                self._send(lambda: os.kill(self.pid, signal.SIGKILL))
            return  # else gone already
        try:
            self._send(lambda: signal.pidfd_send_signal(pidfd, signal.SIGKILL))
        finally:
            os.close(pidfd)

    def _send(self, kill: Callable[[], None]) -> None:
        if not _descends_from(self.pid, self.conmon_pid):
            logger.info("exec %d: not killed: not under its conmon %d", self.pid, self.conmon_pid)
            return
        with contextlib.suppress(OSError):
            kill()

    def close(self) -> None:
        self.sync.close()


class Bridge:
    """Copies between an exec's attach socket and the daemon's local fds, in two threads.

    outputs maps conmon's stream byte (STDOUT_PIPE, STDERR_PIPE) to the fd it goes to;
    input_fd's bytes go to the process's stdin (its EOF: shutdown(SHUT_WR), which
    conmon turns into the end of the process's stdin). Without a TTY the bridge
    owns these pipe ends and closes them at the end; with one, tty is the
    socketpair end behind the daemon's "master", shut down for EOF. The output
    thread never stops reading before conmon closes the socket, and drops what
    the daemon no longer reads (EPIPE, or after drop()): conmon writes to an
    attached socket blocking, so a stalled reader would stall the exec.
    """

    def __init__(self, sock: socket.socket, outputs: Dict[int, int], input_fd: int,
                 tty: Optional[socket.socket] = None) -> None:
        self.sock = sock
        self.outputs = dict(outputs)
        self.input_fd = input_fd
        self.tty = tty
        self.dropping = False
        self.threads = [threading.Thread(target=self._output, daemon=True, name="conmon-exec-out")]
        if input_fd >= 0:
            self.threads.append(threading.Thread(target=self._input, daemon=True, name="conmon-exec-in"))
        for thread in self.threads:
            thread.start()

    def _output(self) -> None:
        try:
            while True:
                try:
                    message = self.sock.recv(OUTPUT_MAX)
                except OSError:
                    break
                if not message:
                    break
                fd = self.outputs.get(message[0], -1)
                if fd >= 0 and not self.dropping and not _write_all(fd, message[1:]):
                    self.outputs.pop(message[0], None)  # the daemon closed its end: drop the rest
        finally:
            self._end_outputs()

    def _end_outputs(self) -> None:
        """EOF to the daemon's readers."""
        if self.tty is not None:
            with contextlib.suppress(OSError):
                self.tty.shutdown(socket.SHUT_WR)
        else:
            for fd in set(self.outputs.values()):
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.outputs.clear()

    def _input(self) -> None:
        while True:
            try:
                data = os.read(self.input_fd, STDIN_PACKET)  # one attach message each
            except OSError:
                data = b""
            if not data:
                break
            try:
                self.sock.sendall(data)
            except OSError:
                break
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
        if self.tty is None:
            os.close(self.input_fd)

    def drop(self) -> None:
        """From now on nobody here reads the output: read it from conmon and drop it."""
        self.dropping = True

    def close(self, timeout: float = 2.0) -> None:
        """After the daemon closed its ends: stop both threads, release the socket."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join(timeout)
        self.sock.close()
        if self.tty is not None:
            self.tty.close()


def _write_all(fd: int, data: bytes) -> bool:
    """Write all of data; False once the reader is gone."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except OSError:
            return False
    return True


class ConmonExecProcess:
    """runtime/supervisor.py ExecProcess's contract (engine/execs.py) for an exec that conmon runs.

    Not a subclass: supervisor imports this module, so this one can't import it
    back (tests/unit/test_architecture.py); a unit test holds the two to the
    same attributes. handle is the ConmonSession; bridge copies an attached
    exec's stdio; guard is the `sh` that kills an attached exec if the daemon
    dies (GUARD_SCRIPT), guard_fd our end of its pipe.
    """

    def __init__(self, handle: ConmonSession, process_file: str, *, bridge: Optional[Bridge] = None,
                 guard: Optional[Any] = None, guard_fd: int = -1, master_fd: int = -1,
                 stdin: Optional[IO[bytes]] = None, stdout: Optional[IO[bytes]] = None,
                 stderr: Optional[IO[bytes]] = None) -> None:
        self.handle = handle
        self.process_file = process_file
        self.master_fd = master_fd  # a socketpair end standing in for the pty conmon holds
        self.tty = master_fd >= 0
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.bridge = bridge
        self.guard = guard
        self.guard_fd = guard_fd
        self.detached = False

    @property
    def pid(self) -> int:
        return self.handle.pid

    def wait(self, timeout: Optional[float] = None) -> int:
        return self.handle.wait(timeout)

    def kill(self) -> None:
        """End the exec's process (its client went away)."""
        self.handle.kill()

    def __enter__(self) -> "ConmonExecProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def detach(self, drain: bool = False) -> None:
        """The exec runs on without the daemon: conmon reads its output once the bridge is gone."""
        self.detached = True
        self._tell_guard(b"detach\n")
        if drain and self.bridge is not None:
            self.bridge.drop()

    def resize(self, height: int, width: int) -> None:
        """Through conmon's ctl fifo (it holds the pty); a finished exec's conmon has no reader: ignored."""
        if self.tty:
            with contextlib.suppress(OSError, RootlessError):
                conmon_mod.resize(self.handle.layout.directory, height, width)

    def close(self) -> None:
        """Release our ends; a detached exec goes on under conmon, one never detached ends here.

        As closing the Python monitor's exec connection does: nobody could read or stop it any more.
        """
        if not self.detached and self.handle.returncode is None:
            self.handle.kill()
        self._tell_guard(b"done\n")
        fs.close_ends(self.master_fd, self.stdin, self.stdout, self.stderr)
        self.master_fd = -1
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.process_file)
        if self.bridge is not None:
            self.bridge.close()
        self.handle.close()
        if self.guard is not None:
            with contextlib.suppress(Exception):
                self.guard.wait(5)
        if self.handle.returncode is not None:  # else conmon still works there (a detached exec)
            shutil.rmtree(self.handle.layout.directory, ignore_errors=True)

    def _tell_guard(self, word: bytes) -> None:
        if self.guard_fd >= 0:
            with contextlib.suppress(OSError):
                os.write(self.guard_fd, word)
            os.close(self.guard_fd)
            self.guard_fd = -1


def start(crun: Crun, container_id: str, exec_id: str, process_file: str, tmp_dir: str, *,
          terminal: bool, stdin: bool, detach: bool, conmon: str = "conmon") -> ConmonExecProcess:
    """Run the exec of process_file (written already) under a new conmon; return once it runs.

    tmp_dir: a short private dir for conmon's console socket (crun connects to it
    by name). A refusal by crun is no exception: as with `crun exec` run
    directly, the result's wait() gives 255 and its stderr crun's reason, which
    engine/execs.py turns into docker's 126/127.

    Raises:
        ToolError: conmon is missing, or failed before it reached crun.
    """
    layout = ExecLayout.for_exec(process_file, exec_id)
    shutil.rmtree(layout.directory, ignore_errors=True)
    fs.ensure_dir(layout.exit_dir)
    argv = exec_argv(_tool_path(conmon), _with_path(crun), container_id, exec_id, layout, process_file,
                     terminal=terminal, stdin=stdin and not detach, attach=not detach)
    sync, sock, conmon_pid = _launch(argv, layout, tmp_dir, attach=not detach)
    try:
        pid, message = _started(sync)
    except BaseException:
        sync.close()
        if sock is not None:
            sock.close()
        raise
    if pid <= 0:  # a TTY exec's conmon reports no reason (crun wrote it to the pty): crun's log has it
        message = _runtime_reason(layout) or message
    handle = ConmonSession(layout, container_id, sync, pid, conmon_pid)
    if sock is None:
        return ConmonExecProcess(handle, process_file, stderr=_message_pipe(message))
    guard, guard_fd = _guard(pid, conmon_pid) if pid > 0 else (None, -1)
    if terminal:
        return _attached_tty(handle, sock, process_file, message, guard, guard_fd)
    return _attached_pipes(handle, sock, process_file, message, stdin, guard, guard_fd)


def _tool_path(name: str) -> str:
    """conmon checks its --runtime with access(2) and we exec conmon: absolute paths."""
    path = name if os.path.isabs(name) else (conmon_mod.find_binary() if name == "conmon" else proc.which(name))
    if path is None:
        raise ToolError(name, f"not found: {name}", hint=f"install it: apt-get install {name}")
    return path


def _with_path(crun: Crun) -> Crun:
    return dataclasses.replace(crun, binary=_tool_path(crun.binary))


def _launch(argv: List[str], layout: ExecLayout, tmp_dir: str, attach: bool
            ) -> Tuple[LineReader, Optional[socket.socket], int]:
    """Start conmon; with attach, connect to the exec's attach socket before crun runs.

    Returns the sync pipe, the attach socket (None without attach) and conmon's pid.
    """
    env = conmon_mod.tool_env(os.environ)
    env["TMPDIR"] = tmp_dir  # conmon's console socket: conmon-term.XXXXXX there
    with contextlib.ExitStack() as stack:
        sync_r, sync_w = os.pipe()
        stack.callback(os.close, sync_w)
        stack.enter_context(_closing_on_error(sync_r))
        child_fds, start_w, attach_r = [sync_w], -1, -1
        env["_OCI_SYNCPIPE"] = str(sync_w)
        if attach:  # conmon waits on the start pipe twice: before it forks, and before crun runs
            start_r, start_w = os.pipe()
            attach_r, attach_w = os.pipe()
            for fd in (start_r, start_w, attach_r, attach_w):
                stack.callback(os.close, fd)
            child_fds += [start_r, attach_w]
            env.update({"_OCI_STARTPIPE": str(start_r), "_OCI_ATTACHPIPE": str(attach_w)})
        starter = proc.popen(argv, tool="conmon", pass_fds=child_fds, env=env, cwd=layout.directory)
        if attach:
            os.write(start_w, b"0")
        conmon_pid = _forked(starter, layout)
        sock = _attach(layout, attach_r, start_w) if attach else None
    return LineReader(sync_r), sock, conmon_pid


def _forked(starter: Any, layout: ExecLayout) -> int:
    """Wait for conmon's first process (it forks the real one and exits); the real one's pid."""
    try:
        code = starter.wait(START_TIMEOUT)
        failure = starter.stderr.read().decode("utf-8", "replace") if code else ""
    finally:
        starter.stderr.close()
    if code:
        raise ToolError("conmon", f"exec: exited with status {code}", stderr=failure[-4096:])
    with open(layout.conmon_pid_file, encoding="ascii") as f:
        return int(f.read().strip())


def _attach(layout: ExecLayout, attach_r: int, start_w: int) -> socket.socket:
    """Connect once conmon says its attach socket listens, then let it run crun."""
    line = LineReader(os.dup(attach_r))
    try:
        ready = line.readline(START_TIMEOUT)
    except TimeoutError:
        raise ToolError("conmon", f"exec: no attach socket after {START_TIMEOUT}s") from None
    finally:
        line.close()
    if not ready:
        raise ToolError("conmon", "exec: exited before its attach socket was ready")
    sock = conmon_mod.connect_attach(layout.directory)
    try:
        os.write(start_w, b"0")
    except BaseException:
        sock.close()
        raise
    return sock


def _started(sync: LineReader) -> Tuple[int, str]:
    """(pid, "") once the process runs, or (0, crun's reason) when it could not start."""
    try:
        line = sync.readline(START_TIMEOUT)
    except TimeoutError:
        raise ToolError("conmon", f"exec not started after {START_TIMEOUT}s") from None
    if not line:
        return 0, "conmon exited before the exec started"
    data, message = parse_sync(line)
    if data > 0:
        return data, ""
    return 0, message or f"crun exec failed (conmon reported {data})"


def _runtime_reason(layout: ExecLayout) -> str:
    """The end of crun's --log: why `crun exec` failed."""
    try:
        with open(layout.runtime_log, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _message_pipe(message: str) -> Any:
    """A read end holding just message (crun's reason, for the engine's exit code), then EOF."""
    read_fd, write_fd = os.pipe()
    with contextlib.suppress(OSError):
        if message:
            os.write(write_fd, message.encode()[:60000])
    os.close(write_fd)
    return os.fdopen(read_fd, "rb")


def _guard(pid: int, conmon_pid: int) -> Tuple[Any, int]:
    """The `sh` that SIGKILLs an attached exec when the daemon goes away (GUARD_SCRIPT)."""
    read_fd, write_fd = os.pipe()
    try:
        guard = proc.popen(["sh", "-c", GUARD_SCRIPT, "rootless-exec-guard", str(pid), str(conmon_pid)],
                           tool="sh", stdin=read_fd, stderr=proc.DEVNULL, start_new_session=True)
    except BaseException:
        os.close(write_fd)
        raise
    finally:
        os.close(read_fd)
    return guard, write_fd


def _attached_pipes(handle: ConmonSession, sock: socket.socket, process_file: str, message: str, stdin: bool,
                    guard: Any, guard_fd: int) -> ConmonExecProcess:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if stdin else (-1, -1)
    if message:
        _write_all(err_w, message.encode()[:60000])
    bridge = Bridge(sock, {STDOUT_PIPE: out_w, STDERR_PIPE: err_w}, in_r)
    return ConmonExecProcess(handle, process_file, bridge=bridge, guard=guard, guard_fd=guard_fd,
                             stdin=os.fdopen(in_w, "wb") if in_w >= 0 else None,
                             stdout=os.fdopen(out_r, "rb"), stderr=os.fdopen(err_r, "rb"))


def _attached_tty(handle: ConmonSession, sock: socket.socket, process_file: str, message: str,
                  guard: Any, guard_fd: int) -> ConmonExecProcess:
    """The daemon's "pty master" is a socketpair end: read output, write input, as a pty's."""
    ours, peer = socket.socketpair()
    bridge = Bridge(sock, {STDOUT_PIPE: peer.fileno()}, peer.fileno(), tty=peer)
    return ConmonExecProcess(handle, process_file, bridge=bridge, guard=guard, guard_fd=guard_fd,
                             master_fd=ours.detach(), stderr=_message_pipe(message))


@contextlib.contextmanager
def _closing_on_error(*fds: int) -> Any:
    try:
        yield
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
