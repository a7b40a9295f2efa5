"""docker exec: extra processes in a running container through `crun exec`.

The exec's stdio belongs to the daemon thread serving the hijacked
connection; the exit code is recorded before the stream is closed, because
clients inspect the exec the moment they see EOF.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import logging
import os
import re
import select
import socket
import threading
import time
from typing import IO, Any, Dict, List, Optional, Protocol, Tuple

from rootless.api import types
from rootless.engine import container_io
from rootless.engine.container_model import Container
from rootless.engine.container_runtime import ContainerRuntime
from rootless.errors import Conflict, InvalidArgument, NotFound
from rootless.runtime import spec as runtime_spec
from rootless.runtime import users
from rootless.wire import stdcopy
from rootless.util import fs
from rootless.wire.command import merge_env

logger = logging.getLogger(__name__)

READ_SIZE = 65536
CRUN_FAILED = 255  # crun exec's own status when it could not start the process
STDERR_TAIL = 1024
HANGUP_POLL_MS = 200
PROBE_OUTPUT_KEEP = 8192  # more than docker's 4096 bytes of probe output; the rest is read and dropped


class ExecSession:
    """One exec instance: its request, and once started its process and exit code."""

    def __init__(self, exec_id: str, container: Container, request: types.ExecCreate) -> None:
        self.exec_id = exec_id
        self.container = container
        self.request = request
        self.running = False
        self.exit_code: Optional[int] = None
        self.pid = 0
        self.process: Any = None
        self.pty_master: Optional[int] = None
        self.done = threading.Event()
        self._send_lock = threading.Lock()
        self.stderr_tail = b""  # the end of stderr: crun's reason when it could not start the process
        self.framed = not self.tty  # stdcopy frames on the wire; the start request's Tty decides (serve)
        self.detached = False  # the client left with the detach keys: the process runs on

    @property
    def tty(self) -> bool:
        return self.request.Tty

    def inspect(self) -> Dict[str, Any]:
        request = self.request
        cmd = list(request.Cmd or [])
        return {
            "ID": self.exec_id, "Running": self.running, "ExitCode": self.exit_code,
            "ProcessConfig": {"tty": self.tty, "entrypoint": cmd[0] if cmd else "", "arguments": cmd[1:],
                              "privileged": request.Privileged, "user": request.User},
            "OpenStdin": request.AttachStdin, "OpenStderr": request.AttachStderr,
            "OpenStdout": request.AttachStdout, "CanRemove": False,
            "ContainerID": self.container.id, "DetachKeys": request.DetachKeys, "Pid": self.pid,
        }


class ContainerEvents(Protocol):
    """Where exec events go: the container's event stream (engine/containers.py Containers)."""

    def publish(self, container: Container, action: str, **extra: str) -> None:
        """One container event with the container's labels, image and name."""


class ExecService:
    """Creates, starts and tracks exec sessions (in memory, like docker's)."""

    def __init__(self, runtime: ContainerRuntime, containers: ContainerEvents, last_cap: int) -> None:
        self.runtime = runtime
        self.containers = containers
        self.last_cap = last_cap
        self._sessions: Dict[str, ExecSession] = {}
        self._lock = threading.Lock()

    def create(self, container: Container, request: types.ExecCreate) -> ExecSession:
        if not container.running:
            raise Conflict(f"container {container.id} is not running")
        if not request.Cmd:
            raise InvalidArgument("No exec command specified")
        session = ExecSession(os.urandom(32).hex(), container, request)
        with self._lock:
            self._sessions[session.exec_id] = session
        container.exec_ids = container.exec_ids + [session.exec_id]
        self.containers.publish(container, "exec_create: " + " ".join(request.Cmd), execID=session.exec_id)
        return session

    def get(self, exec_id: str) -> ExecSession:
        with self._lock:
            session = self._sessions.get(exec_id)
            if session is None:
                matches = [s for k, s in self._sessions.items() if k.startswith(exec_id)]
                session = matches[0] if len(matches) == 1 else None
        if session is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return session

    # -- process ------------------------------------------------------------------
    def _process_json(self, session: ExecSession) -> Dict[str, Any]:
        container, request = session.container, session.request
        bundle_config = self.runtime.bundle_config(container.id) or {}
        process = copy.deepcopy(bundle_config.get("process") or {})
        rootfs = (bundle_config.get("root") or {}).get("path", "")
        process["args"] = list(request.Cmd or [])
        process["terminal"] = session.tty
        env = merge_env(process.get("env") or [], request.Env or [])  # a bare KEY unsets it, as docker
        process["env"] = env
        if request.WorkingDir:
            process["cwd"] = request.WorkingDir
        if request.User:
            user = users.resolve_user(rootfs, request.User)
            process["user"] = {"uid": user.uid, "gid": user.gid,
                               **({"additionalGids": list(user.additional_gids)} if user.additional_gids else {})}
        if request.Privileged:
            caps = runtime_spec.resolve_capabilities([], [], True, self.last_cap)
            process["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted")}
        size = request.ConsoleSize
        if session.tty and size and len(size) == 2 and size[0] and size[1]:
            process["consoleSize"] = {"height": int(size[0]), "width": int(size[1])}
        return process

    def _spawn(self, session: ExecSession, stdin: bool, detach: bool) -> None:
        process = self._process_json(session)
        session.process = self.runtime.exec(
            session.container.id, session.exec_id, process, stdin=stdin, detach=detach)
        session.pid = session.process.pid
        session.pty_master = session.process.master_fd if session.process.tty else None

    def start(self, session: ExecSession, detach: bool) -> None:
        """Start the process; for detach, reap it in the background.

        A detached exec outlives the daemon, as docker's (a process in the
        container under containerd's shim) outlives dockerd: the monitor keeps
        it. Its session does not: a new daemon answers its ID with docker's
        404, moby's exec records being in memory too.
        """
        if session.running or session.exit_code is not None:
            raise Conflict(f"exec {session.exec_id} has already been started")
        if not session.container.running:
            raise Conflict(f"container {session.container.id} is not running")
        session.running = True
        self._spawn(session, stdin=session.request.AttachStdin and not detach, detach=detach)
        self.containers.publish(session.container, "exec_start: " + " ".join(session.request.Cmd or []),
                                       execID=session.exec_id)
        if detach:
            # Before the 200: a daemon stopped or killed right after it must leave the process running.
            # Nobody reads a detached exec's pty here (_reap reads crun's stderr): the monitor does.
            session.process.detach(drain=session.pty_master is not None)
            threading.Thread(target=self._reap, args=(session,), daemon=True).start()

    def _reap(self, session: ExecSession) -> None:
        stream = session.process.stderr  # the process's and crun's (stdout is /dev/null)
        stderr = b""
        for chunk in iter(lambda: stream.read(READ_SIZE) if stream else b"", b""):
            stderr = (stderr + chunk)[-STDERR_TAIL:]
        if stderr:
            logger.info("exec %s: %s", session.exec_id[:12], stderr.decode(errors="replace").strip())
            session.stderr_tail = stderr[-STDERR_TAIL:]
        self._finish(session)

    def _finish(self, session: ExecSession) -> None:
        code = session.process.wait() if session.process is not None else CRUN_FAILED
        if code == CRUN_FAILED:
            code = exec_failure_code(session.stderr_tail + _unread_stderr(session.process))
        session.exit_code = code
        session.running = False
        session.process.close()
        session.pty_master = None
        session.done.set()
        self.containers.publish(session.container, "exec_die", execID=session.exec_id, exitCode=str(code))

    # -- health probes -------------------------------------------------------------
    def run_probe(self, container: Container, argv: List[str], timeout: float) -> Optional[Tuple[int, bytes]]:
        """A healthcheck probe (engine/health.py): an exec whose stdout and stderr are collected.

        (exit code, output), or None when it ran past timeout: then it is
        killed. The session is forgotten afterwards, as moby unregisters its
        probes' execs, so a probe every second does not pile up ExecIDs.
        """
        session = self.create(container, types.ExecCreate(Cmd=argv, AttachStdout=True, AttachStderr=True))
        try:
            session.running = True
            self._spawn(session, stdin=False, detach=False)
            self.containers.publish(container, "exec_start: " + " ".join(argv), execID=session.exec_id)
            output, finished = _collect(session.process, timeout)
            if not finished:
                session.process.kill()
            self._finish(session)
            return (session.exit_code if session.exit_code is not None else CRUN_FAILED, output) \
                if finished else None
        finally:
            self._forget(session)

    def _forget(self, session: ExecSession) -> None:
        with self._lock:
            self._sessions.pop(session.exec_id, None)
        session.container.exec_ids = [i for i in session.container.exec_ids if i != session.exec_id]

    def resize(self, session: ExecSession, height: int, width: int) -> None:
        if session.pty_master is not None and height and width:
            session.process.resize(height, width)  # a pty here, or conmon's (runtime/conmon_exec.py)

    # -- the hijacked stream ---------------------------------------------------------
    def serve(self, session: ExecSession, client: socket.socket, rfile: IO[bytes],
              start_tty: Optional[bool] = None) -> None:
        """Bridge the client and the exec's stdio until the process exits.

        A client that hangs up takes its process along: nobody could see its
        output or stop it any more (a half-close, the end of stdin, does not count;
        nor does leaving with the detach keys).
        moby frames the output by the start request's Tty, not the create's:
        docker-py's exec_start(tty=False) of a TTY exec gets stdcopy frames.
        """
        if start_tty is not None:
            session.framed = not start_tty
        # The process already runs: its first output must not ride along with the 101 answer
        # into docker-py's buffered reader, where it is lost (seen with `echo` under load).
        container_io.wait_until_peer_read(client, container_io.HEAD_READ_WAIT)
        threading.Thread(target=_kill_on_hangup, args=(session, client), daemon=True,
                         name=f"exec-hangup-{session.exec_id[:12]}").start()
        if session.tty:
            self._serve_tty(session, client, rfile)
        else:
            self._serve_pipes(session, client, rfile)
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)

    def _serve_pipes(self, session: ExecSession, client: socket.socket, rfile: IO[bytes]) -> None:
        process = session.process
        pumps = [threading.Thread(target=self._pump_out, args=(session, process.stdout, client, 1,
                                                                 _attached(session.request, "AttachStdout")), daemon=True),
                 threading.Thread(target=self._pump_out, args=(session, process.stderr, client, 2,
                                                                 _attached(session.request, "AttachStderr")), daemon=True)]
        for pump in pumps:
            pump.start()
        if process.stdin is not None:
            threading.Thread(target=_pump_stdin, args=(rfile, process.stdin), daemon=True).start()
        for pump in pumps:
            pump.join()
        self._finish(session)

    def _pump_out(self, session: ExecSession, pipe: Any, client: socket.socket, stream: int, wanted: bool) -> None:
        fd = pipe.fileno()
        while True:
            data = os.read(fd, READ_SIZE)
            if not data:
                return
            if stream == 2:
                session.stderr_tail = (session.stderr_tail + data)[-STDERR_TAIL:]
            if wanted:
                with session._send_lock, contextlib.suppress(OSError):
                    client.sendall(stdcopy.frame(stream, data) if session.framed else data)

    def _serve_tty(self, session: ExecSession, client: socket.socket, rfile: IO[bytes]) -> None:
        master = session.pty_master
        assert master is not None
        if session.request.AttachStdin:
            # docker's escape proxy on a TTY exec: the keys end the attach, the process runs on
            # (its output is drained below until it exits).
            keys = container_io.parse_detach_keys(session.request.DetachKeys)
            detach = functools.partial(_detach, session, client)
            threading.Thread(target=container_io.pump_detachable,
                             args=(rfile, functools.partial(os.write, master), keys, detach), daemon=True).start()
        while True:
            try:
                data = os.read(master, READ_SIZE)
            except OSError:
                break  # EIO: the last process holding the pty exited
            if not data:
                break
            with contextlib.suppress(OSError):
                client.sendall(stdcopy.frame(1, data) if session.framed else data)
        self._finish(session)


def exec_failure_code(stderr_tail: bytes) -> int:
    """docker's status for an exec whose command could not start: 127 not found, 126 not invokable.

    moby's translateContainerdStartErr does this from the runtime's words;
    these are crun's ("executable file `x` not found in $PATH", "open
    executable: Permission denied"); any other failure stays 255.
    """
    text = stderr_tail.decode("utf-8", "replace")
    if re.search(r"executable file `[^`]*` not found", text):
        return 127
    if re.search(r"open executable: (Permission denied|Operation not permitted)", text):
        return 126
    return CRUN_FAILED


def _attached(request: types.ExecCreate, stream: str) -> bool:
    """AttachStdout / AttachStderr; a request that leaves one out gets the stream."""
    return bool(getattr(request, stream)) if stream in request.fields_set else True


def _kill_on_hangup(session: ExecSession, client: socket.socket) -> None:
    """Kill the exec once its client has closed the connection (POLLHUP), until the exec ends.

    On a UNIX socket POLLHUP means the peer closed both directions, i.e. it
    closed the socket or died; shutdown(SHUT_WR) alone gives only POLLRDHUP.
    """
    poller = select.poll()
    poller.register(client.fileno(), select.POLLHUP)
    while not session.done.is_set():
        try:
            events = poller.poll(HANGUP_POLL_MS)
        except (OSError, ValueError):
            return
        if any(mask & (select.POLLHUP | select.POLLNVAL) for _, mask in events):
            if not session.done.is_set() and not session.detached and session.process is not None:
                logger.info("exec %s: client hung up; killing the process", session.exec_id[:12])
                session.process.kill()
            return


def _unread_stderr(process: Any) -> bytes:
    """What crun said on its own stderr pipe when nothing pumped it (TTY execs)."""
    stream = getattr(process, "stderr", None)
    if process is None or not process.tty or stream is None:
        return b""
    try:
        os.set_blocking(stream.fileno(), False)
        return stream.read(STDERR_TAIL) or b""
    except (OSError, ValueError):
        return b""


def _pump_stdin(rfile: IO[bytes], stdin: Any) -> None:
    """Client bytes into the exec's stdin; the client's half-close closes it."""
    try:
        while True:
            data = rfile.read1(READ_SIZE)  # type: ignore[attr-defined]
            if not data:
                break
            stdin.write(data)
            stdin.flush()
    except (OSError, ValueError):
        pass
    with contextlib.suppress(OSError, ValueError):
        stdin.close()


def _detach(session: ExecSession, client: socket.socket) -> None:
    session.detached = True  # first: our own shutdown reads as a hang-up to _kill_on_hangup
    session.process.detach()  # and the process outlives a daemon stop, as `exec -d`'s does
    with contextlib.suppress(OSError):
        client.shutdown(socket.SHUT_RDWR)


def _collect(process: Any, timeout: float) -> Tuple[bytes, bool]:
    """stdout and stderr of a pipe exec, interleaved as they come, until both end or timeout.

    Returns (output, finished); not finished means the deadline passed first.
    """
    deadline = time.monotonic() + timeout
    fds = [stream.fileno() for stream in (process.stdout, process.stderr) if stream is not None]
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    output = b""
    while fds:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return output, False
        for fd, _ in poller.poll(remaining * 1000):
            data = os.read(fd, READ_SIZE)
            if data:
                output = (output + data)[:PROBE_OUTPUT_KEEP]
            else:
                poller.unregister(fd)
                fds.remove(fd)
    return output, True
