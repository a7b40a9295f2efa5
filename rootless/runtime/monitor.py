"""The per-container monitor: `python -m rootless.runtime.monitor CONFIG READY_FD`.

Podman's conmon is the model. The engine starts one monitor per container;
it forks into the background (so it outlives the daemon and is reaped by
init), becomes the subreaper of the container's init, creates its stdio,
runs `crun create`, sets up slirp4netns, reports {"pid": N, "ports": [...]}
as one JSON line on READY_FD, then serves two UNIX sockets in its dir:

- ctl.sock: one JSON request line per connection, one JSON reply line:
  {"start": true} runs `crun start`; {"resize": [h, w]} sets the pty size.
  {"exec": {"process": FILE, "console": PATH|null}} with the exec's stdin,
  stdout and stderr as SCM_RIGHTS fds runs `crun exec`, replies {"pid": N}
  and keeps the connection: {"exit": code} follows when crun exits, and the
  daemon closing its side (or dying) kills the exec, unless the daemon sent
  {"detach": true} on it first (docker's `exec -d`, or a client that left with
  the detach keys): such an exec runs on as docker's does, and we drain the
  output fds sent with that message so its writes never block or fail.
  As the subreaper we inherit an exec's
  process when its crun dies, and kill it then: an exec never outlives its
  crun, nor (unless detached) its daemon or client (see _kill_exec_orphans).
- attach.sock: the client sends {"stdin": b, "stdout": b, "stderr": b} and a
  newline, gets {"ok": true} and a newline once registered, then stdcopy
  frames of the container's output (TTY output is stream 1) and may send raw
  stdin bytes. The monitor closes the connection after the last output.

Output goes to the log its LogSettings name (runtime/logs.py). When init exits the monitor drains
the output, runs `crun delete`, closes the clients, stops slirp4netns and
writes exit.json ({"ExitCode", "FinishedAt", "Signal"}), then closes READY_FD
(its EOF tells the engine). Without published ports, exit.json comes before
slirp4netns is gone (see _may_report_exit_early); the engine's launch waits
for such a finishing monitor before it creates the container again.
The wire formats and file names are in runtime/monitor_protocol.py, the only
part of this program the daemon imports.
Only light imports here: the monitor is on every container start's path.
"""
from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from rootless.errors import ToolError
from rootless.runtime import cgroup_manager
from rootless.runtime.logs import format_rfc3339_ns, open_log
from rootless.runtime.monitor_protocol import (ATTACH, CONSOLE, CONTROL, CREATE_TIMEOUT, EXIT, LOG, MONITOR_PIDFILE,
                                               PASTA_PIDFILE, PIDFILE, READY, SLIRP, SUN_PATH_MAX, MonitorConfig,
                                               accept_console, process_start_time, set_winsize)
from rootless.util import fs, linux, proc
from rootless.wire import stdcopy

logger = logging.getLogger("rootless.runtime.monitor")  # also when run as __main__

DRAIN_SECONDS = 2.0
CLIENT_FLUSH_SECONDS = 2.0
# Output queued for a slow attach client beyond this is dropped, never the container blocked.
CLIENT_BUFFER_LIMIT = 4 << 20
STDIN_BUFFER_LIMIT = 1 << 20
READ_SIZE = 65536
EOT = b"\x04"


def reachable_path(path: str) -> str:
    """A path to the same socket that fits in sun_path: long ones go through /proc."""
    if len(path) <= SUN_PATH_MAX:
        return path
    directory, name = os.path.split(path)
    if os.path.realpath(os.getcwd()) == os.path.realpath(directory):
        return f"/proc/{os.getpid()}/cwd/{name}"
    return path


def exit_record(status: int, finished_ns: Optional[int] = None) -> Dict[str, Any]:
    """exit.json from a waitpid status: 128+N when killed by signal N, as docker reports."""
    signum: Optional[int] = None
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        code = 128 + signum
    else:
        code = os.WEXITSTATUS(status)
    stamp = format_rfc3339_ns(finished_ns if finished_ns is not None else time.time_ns())
    return {"ExitCode": code, "FinishedAt": stamp, "Signal": signum}


class AttachClient:
    """One attach connection: what it wants and what is queued for it."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.handshake = bytearray()
        self.ready = False
        self.stdin = self.stdout = self.stderr = False
        self.reading = True
        self.out = bytearray()
        self.dropped = 0

    def wants(self, stream: str) -> bool:
        return self.stdout if stream == "stdout" else self.stderr


@dataclass
class ExecRun:
    """One `crun exec` we run for the daemon: its connection, its Popen (kept so that
    subprocess never reaps it behind _reap's back) and crun's --pid-file."""

    conn: socket.socket
    child: Any
    pid_file: str
    detached: bool = False  # the daemon said so: its going away doesn't end the exec
    kept: List[int] = field(default_factory=list)  # the exec's output ends, drained once the daemon is gone
    # (or at once with {"drain": true})
    pending: bytes = b""  # a message line not complete yet


class Monitor:
    """The event loop of one container: stdio, log, attach and control sockets."""

    def __init__(self, config: MonitorConfig, ready_fd: int) -> None:
        self.config = config
        self.ready_fd = ready_fd
        self.crun = config.crun
        self.sel = selectors.DefaultSelector()
        self.interest: Dict[int, int] = {}
        self.outputs: Dict[int, str] = {}  # fd -> "stdout" | "stderr"
        self.stdin_fd = -1
        self.stdin_buf = bytearray()
        self.stdin_eof = False
        self.master_fd = -1
        self.clients: Dict[int, AttachClient] = {}
        self.listeners: Dict[int, Tuple[str, socket.socket]] = {}
        self.container_pid = 0
        self.memory_events_fd = -1  # the container's memory.events, held open: its scope may vanish at exit
        self.oom_watch_fd = -1  # inotify on memory.events: read it as it changes, before systemd removes the scope
        self.oom_killed = False
        self.helper_pids: List[int] = []
        self.execs: Dict[int, ExecRun] = {}  # crun exec's pid -> its run
        self.drains: Dict[int, ExecRun] = {}  # a detached exec's output fd we read and drop -> its run
        self.started = False
        self.exit_status: Optional[int] = None
        self.exited_ns = 0
        self.wake_r = -1
        self.log = open_log(config.log_path, config.log_settings_of())

    # -- set-up ------------------------------------------------------------
    def run(self) -> int:
        """Create, report, serve until init exits, clean up; exit.json comes last."""
        with contextlib.ExitStack() as stack:
            stack.callback(self.log.close)
            try:
                self._watch_children(stack)
                self._create_container(stack)
                ports = self._setup_network(stack)
                self._listen(stack)
            except Exception as exc:  # reported to the engine, which raises it
                logger.exception("container set-up failed")
                self._report({"error": str(exc), "hint": getattr(exc, "hint", None)})
                self._delete_container()
                return 1
            ready = {"pid": self.container_pid, "ports": ports, "monitor_pid": os.getpid()}
            # No fsync for the runtime dir's files: a reboot ends this monitor and its container
            # anyway (supervisor.runtime_json reads a torn one as missing).
            fs.atomic_write_json(self.config.file(READY), ready, 0o600, durable=False)
            # The ready fd stays open until exit.json exists: its EOF wakes the engine.
            self._report(ready, keep_open=True)
            self._serve()
            record = self._finish()
            reported = self._may_report_exit_early()
            if reported:
                self._write_exit(record)
        if not reported:
            self._write_exit(record)
        return 0

    def _may_report_exit_early(self) -> bool:
        """Whether exit.json may precede the network helper's exit.

        slirp4netns takes 15-20 ms to die after any signal or exit-fd EOF (the kernel
        tears down its tap device; bench/README.md): not worth making the engine wait
        for, unless published ports are still bound to it (a restart would collide)
        or it is pasta, whose clean-up reads its pid file from the monitor dir.
        """
        return not self.config.ports and self.config.network in ("none", "slirp4netns")

    def _write_exit(self, record: Dict[str, Any]) -> None:
        fs.atomic_write_json(self.config.file(EXIT), record, durable=False)
        logger.info("container %s exited: %s", self.config.container_id, record)
        if self.ready_fd >= 0:
            os.close(self.ready_fd)
            self.ready_fd = -1

    def _watch_children(self, stack: contextlib.ExitStack) -> None:
        """SIGCHLD wakes the selector through a pipe (signal.set_wakeup_fd)."""
        wake_r, wake_w = os.pipe()
        for fd in (wake_r, wake_w):
            os.set_blocking(fd, False)
            stack.callback(os.close, fd)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(wake_w)
        stack.callback(signal.set_wakeup_fd, -1)
        self.wake_r = wake_r
        self._set_interest(wake_r, selectors.EVENT_READ)

    def _create_container(self, stack: contextlib.ExitStack) -> None:
        if self.config.tty:
            self._create_with_pty(stack)
        else:
            self._create_with_pipes(stack)
        with open(self.config.file(PIDFILE), encoding="ascii") as f:
            self.container_pid = int(f.read().strip())
        logger.info("created %s: pid %d", self.config.container_id, self.container_pid)
        self._open_memory_events(stack)

    def _open_memory_events(self, stack: contextlib.ExitStack) -> None:
        """Keep the container's memory.events open to tell an OOM kill at exit (docker's State.OOMKilled).

        Opened now, not at exit: systemd removes an emptied scope as soon as
        the last process is gone, and the path with it.
        """
        if self.config.cgroup_manager == "disabled":
            return
        directory = cgroup_manager.cgroup_dir_of_pid(self.container_pid)
        try:
            self.memory_events_fd = os.open(os.path.join(directory, "memory.events"), os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            logger.warning("can't watch OOM kills of %s: %s", directory or "(no cgroup)", exc)
            return
        stack.callback(os.close, self.memory_events_fd)
        # A removed cgroup's files read ENODEV, and systemd removes an emptied scope at once: reading
        # only at exit lost most OOM kills. The kill comes before the exit, so read on each change.
        try:
            self.oom_watch_fd = linux.inotify_modify_watch(os.path.join(directory, "memory.events"))
        except OSError as exc:
            logger.warning("can't watch OOM kills of %s as they happen: %s", directory, exc)
            return
        stack.callback(os.close, self.oom_watch_fd)
        self._set_interest(self.oom_watch_fd, selectors.EVENT_READ)

    def _memory_events_changed(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self.oom_watch_fd, 4096):
                pass
        self._count_oom_kills()

    def _count_oom_kills(self) -> None:
        if self.memory_events_fd < 0 or self.oom_killed:
            return
        try:
            text = os.pread(self.memory_events_fd, 4096, 0).decode("ascii", "replace")
        except OSError as exc:  # the cgroup is already gone (ENODEV)
            logger.info("can't read OOM kills at exit: %s", exc)
            return
        self.oom_killed = cgroup_manager.parse_flat_keyed(text).get("oom_kill", 0) > 0

    def _create_argv(self, console: Optional[str] = None) -> List[str]:
        cfg = self.config
        return self.crun.create_argv(cfg.container_id, cfg.bundle, cfg.file(PIDFILE), console)

    def _create_with_pipes(self, stack: contextlib.ExitStack) -> None:
        """Non-TTY: the container's stdio are pipes; crun's own errors land on stderr."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        if self.config.open_stdin:
            in_r, in_w = os.pipe()
        else:
            in_r, in_w = os.open(os.devnull, os.O_RDONLY), -1
        for fd in (out_r, err_r, in_w):
            if fd >= 0:
                os.set_blocking(fd, False)
                stack.callback(self._close_fd, fd)
        try:
            creator = proc.popen(self._create_argv(), tool="crun", stdin=in_r, stdout=out_w, stderr=err_w)
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        returncode = creator.wait(CREATE_TIMEOUT)
        if returncode != 0:
            raise proc_error("create", returncode, _read_available(err_r) + _read_available(out_r))
        self._add_output(out_r, "stdout")
        self._add_output(err_r, "stderr")
        self.stdin_fd = in_w

    def _create_with_pty(self, stack: contextlib.ExitStack) -> None:
        """TTY: crun creates the pty and sends us its master over the console socket."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stack.callback(listener.close)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(CONSOLE)
        listener.bind(CONSOLE)  # our cwd is the monitor dir
        stack.callback(_unlink_quietly, CONSOLE)
        listener.listen(1)
        console = reachable_path(self.config.file(CONSOLE))
        creator = proc.popen(self._create_argv(console), tool="crun")  # stderr: a pipe
        try:
            master = accept_console(listener, creator)
            returncode = creator.wait(CREATE_TIMEOUT)
            stderr = creator.stderr.read().decode("utf-8", "replace") if creator.stderr else ""
        finally:
            proc.terminate(creator)
            if creator.stderr:
                creator.stderr.close()
        if returncode != 0 or master < 0:
            if master >= 0:
                os.close(master)
            raise proc_error("create", returncode, stderr)
        os.set_blocking(master, False)
        stack.callback(self._close_fd, master)
        self.master_fd = master
        self._add_output(master, "stdout")
        if self.config.open_stdin:
            self.stdin_fd = master

    def _setup_network(self, stack: contextlib.ExitStack) -> List[Dict[str, Any]]:
        """slirp4netns or pasta for the container's netns, with its port forwards."""
        if self.config.network == "pasta":
            from rootless.runtime.network import pasta, slirp

            ports = [slirp.PortMapping.from_json(p) for p in self.config.ports]
            used = stack.enter_context(pasta.run_pasta(self.container_pid, ports, self.config.file(PASTA_PIDFILE),
                                                       options=self.config.pasta_options))
            return [m.to_json() for m in used]
        if self.config.network != "slirp4netns":
            return []
        from rootless.runtime.network import slirp

        api = reachable_path(self.config.file(SLIRP))
        features = slirp.Features.from_json(self.config.slirp_features) if self.config.slirp_features else None
        helper = stack.enter_context(slirp.run_slirp(
            self.container_pid, api, allow_host_loopback=self.config.allow_host_loopback, features=features))
        self.helper_pids.append(helper)
        mappings = [slirp.PortMapping.from_json(p) for p in self.config.ports]
        return [slirp.add_hostfwd(api, m).to_json() for m in mappings]

    def _listen(self, stack: contextlib.ExitStack) -> None:
        for name in (ATTACH, CONTROL):
            _unlink_quietly(name)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            stack.callback(listener.close)
            listener.bind(name)
            stack.callback(_unlink_quietly, name)
            listener.listen(16)
            listener.setblocking(False)
            self.listeners[listener.fileno()] = (name, listener)
            self._set_interest(listener.fileno(), selectors.EVENT_READ)

    def _report(self, message: Dict[str, Any], keep_open: bool = False) -> None:
        """One JSON line to the engine on the ready fd; then close it unless keep_open."""
        if self.ready_fd < 0:
            return
        with contextlib.suppress(OSError):
            os.write(self.ready_fd, (json.dumps(message) + "\n").encode())
        if not keep_open:
            os.close(self.ready_fd)
            self.ready_fd = -1

    # -- selector bookkeeping -----------------------------------------------
    def _set_interest(self, fd: int, events: int) -> None:
        current = self.interest.get(fd, 0)
        if events == current:
            return
        if not events:
            self.sel.unregister(fd)
            del self.interest[fd]
        elif current:
            self.sel.modify(fd, events)
            self.interest[fd] = events
        else:
            self.sel.register(fd, events)
            self.interest[fd] = events

    def _want(self, fd: int, flag: int, on: bool) -> None:
        current = self.interest.get(fd, 0)
        self._set_interest(fd, (current | flag) if on else (current & ~flag))

    def _add_output(self, fd: int, stream: str) -> None:
        self.outputs[fd] = stream
        self._want(fd, selectors.EVENT_READ, True)

    def _close_fd(self, fd: int) -> None:
        """Close one of our stdio fds once (the master is both output and stdin)."""
        if fd in self.interest:
            self._set_interest(fd, 0)
        self.outputs.pop(fd, None)
        if fd == self.stdin_fd:
            self.stdin_fd = -1
            self.stdin_buf.clear()
        if fd == self.master_fd:
            self.master_fd = -1
        with contextlib.suppress(OSError):
            os.close(fd)

    # -- the loop -------------------------------------------------------------
    def _serve(self) -> None:
        """Until init has exited and its output is drained (bounded by DRAIN_SECONDS)."""
        drain_deadline: Optional[float] = None
        while True:
            if self.exit_status is not None:
                if drain_deadline is None:
                    drain_deadline = time.monotonic() + DRAIN_SECONDS
                if not self.outputs or time.monotonic() > drain_deadline:
                    return
            for key, mask in self.sel.select(0.1 if drain_deadline else 1.0):
                self._dispatch(key.fd, mask)
            self.log.flush_partial()

    def _dispatch(self, fd: int, mask: int) -> None:
        if fd == self.wake_r:
            with contextlib.suppress(OSError):
                os.read(fd, 512)
            self._reap()
        elif fd in self.listeners:
            name, listener = self.listeners[fd]
            if name == ATTACH:
                self._accept_attach(listener)
            else:
                self._serve_control(listener)
        elif fd == self.oom_watch_fd:
            self._memory_events_changed()
        elif fd in self.clients:
            self._client_event(self.clients[fd], mask)
        elif any(run.conn.fileno() == fd for run in self.execs.values()):
            self._exec_hangup(fd)
        elif fd in self.drains:
            self._drain_exec_output(fd)
        else:
            if mask & selectors.EVENT_READ and fd in self.outputs:
                self._read_output(fd)
            if mask & selectors.EVENT_WRITE and fd == self.stdin_fd:
                self._write_stdin()

    def _reap(self) -> None:
        """Reap init and any orphan re-parented to us; helpers are left to their Popen."""
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid in self.helper_pids:
                return
            _, status = os.waitpid(info.si_pid, 0)
            if info.si_pid == self.container_pid:
                self._count_oom_kills()
                self.exit_status = status
                self.exited_ns = time.time_ns()
            elif info.si_pid in self.execs:
                self._exec_exited(info.si_pid, status)
            else:  # e.g. crun exec's intermediate child, orphaned with crun: its child may be ours now
                self._kill_exec_orphans()

    # -- container output and stdin -----------------------------------------
    def _read_output(self, fd: int) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: the last slave fd of the pty is gone
            if exc.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self._close_fd(fd)
            return
        stream = self.outputs[fd]
        self.log.write(stream, data)
        frame = stdcopy.frame(stdcopy.STDOUT if self.config.tty else stream, data)
        for client in list(self.clients.values()):
            if client.ready and client.wants(stream):
                self._queue(client, frame)

    def _write_stdin(self) -> None:
        try:
            written = os.write(self.stdin_fd, self.stdin_buf)
        except BlockingIOError:
            return
        except OSError:  # EPIPE: the container closed its stdin
            logger.debug("container stdin closed")
            self.stdin_buf.clear()
            self._close_stdin()
            return
        del self.stdin_buf[:written]
        if not self.stdin_buf:
            self._want(self.stdin_fd, selectors.EVENT_WRITE, False)
            if self.stdin_eof:
                self._close_stdin()
        if len(self.stdin_buf) < STDIN_BUFFER_LIMIT:
            for client in list(self.clients.values()):
                self._update_client(client)

    def _close_stdin(self) -> None:
        """StdinOnce: EOF for the container; a pty gets ^D since its master is also output."""
        if self.stdin_fd < 0:
            return
        if self.stdin_fd == self.master_fd:
            with contextlib.suppress(OSError):
                os.write(self.master_fd, EOT)
            self._want(self.master_fd, selectors.EVENT_WRITE, False)
            self.stdin_fd = -1
        else:
            self._close_fd(self.stdin_fd)

    # -- attach clients -----------------------------------------------------
    def _accept_attach(self, listener: socket.socket) -> None:
        with contextlib.suppress(BlockingIOError):
            conn, _ = listener.accept()
            conn.setblocking(False)
            client = AttachClient(conn)
            self.clients[conn.fileno()] = client
            self._update_client(client)

    def _update_client(self, client: AttachClient) -> None:
        """Read while stdin has room (back-pressure), write while output is queued."""
        fd = client.conn.fileno()
        if fd not in self.clients:
            return
        stdin_full = client.stdin and len(self.stdin_buf) >= STDIN_BUFFER_LIMIT
        events = selectors.EVENT_READ if client.reading and not stdin_full else 0
        if client.out:
            events |= selectors.EVENT_WRITE
        self._set_interest(fd, events)

    def _drop_client(self, client: AttachClient) -> None:
        fd = client.conn.fileno()
        if fd in self.clients:
            self._set_interest(fd, 0)
            del self.clients[fd]
        client.conn.close()

    def _queue(self, client: AttachClient, frame: bytes) -> None:
        if len(client.out) + len(frame) > CLIENT_BUFFER_LIMIT:
            if not client.dropped:
                logger.warning("attach client too slow: dropping output")
            client.dropped += len(frame)
            return
        client.out += frame
        self._flush_client(client)

    def _flush_client(self, client: AttachClient) -> None:
        try:
            sent = client.conn.send(client.out)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._drop_client(client)
            return
        del client.out[:sent]
        self._update_client(client)

    def _client_event(self, client: AttachClient, mask: int) -> None:
        if mask & selectors.EVENT_READ:
            self._client_read(client)
        if mask & selectors.EVENT_WRITE and client.conn.fileno() in self.clients:
            self._flush_client(client)

    def _client_read(self, client: AttachClient) -> None:
        try:
            data = client.conn.recv(READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            self._drop_client(client)
            return
        if not client.ready:
            rest = self._handshake(client, data) if data else None
            if rest is None or not rest:
                if not data:
                    self._drop_client(client)
                return
            data = rest
        if not data:
            self._client_eof(client)
        elif client.stdin and self.stdin_fd >= 0:
            self.stdin_buf += data
            self._want(self.stdin_fd, selectors.EVENT_WRITE, True)
            if len(self.stdin_buf) >= STDIN_BUFFER_LIMIT:
                for other in list(self.clients.values()):
                    self._update_client(other)

    def _handshake(self, client: AttachClient, data: bytes) -> Optional[bytes]:
        """Parse the options line; return the bytes after it (stdin), None until complete."""
        client.handshake += data
        newline = client.handshake.find(b"\n")
        if newline < 0:
            if len(client.handshake) > 4096:
                self._drop_client(client)
            return None
        try:
            options = json.loads(bytes(client.handshake[:newline]))
        except ValueError:
            self._drop_client(client)
            return None
        client.stdin = bool(options.get("stdin")) and self.stdin_fd >= 0
        client.stdout = bool(options.get("stdout"))
        client.stderr = bool(options.get("stderr"))
        client.ready = True
        rest = bytes(client.handshake[newline + 1:])
        client.handshake.clear()
        client.out += b'{"ok": true}\n'
        self._flush_client(client)
        return rest

    def _client_eof(self, client: AttachClient) -> None:
        """The client closed its sending side: end of its stdin."""
        client.reading = False
        if client.stdin and self.config.stdin_once:
            self.stdin_eof = True
            if not self.stdin_buf:
                self._close_stdin()
        if not (client.stdout or client.stderr) and not client.out:
            self._drop_client(client)
        else:
            self._update_client(client)

    # -- control socket -----------------------------------------------------
    def _serve_control(self, listener: socket.socket) -> None:
        """One short blocking request per connection: start, resize, or exec (which keeps it)."""
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        fds: List[int] = []
        try:
            conn.settimeout(2.0)
            request, fds = _read_request(conn)
            if "exec" in request:
                owned, fds = fds, []
                self._start_exec(conn, request["exec"], owned)  # closes owned
                return  # the run owns conn now
            reply = self._control(request)
            conn.sendall((json.dumps(reply) + "\n").encode())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("bad control request: %s", exc)
        for fd in fds:
            os.close(fd)
        if not any(run.conn is conn for run in self.execs.values()):
            conn.close()

    def _control(self, request: Dict[str, Any]) -> Dict[str, Any]:
        if request.get("start"):
            return self._start()
        if "resize" in request:
            if self.master_fd < 0:
                return {"error": "can't resize: container has no tty"}
            height, width = (int(v) for v in request["resize"])
            set_winsize(self.master_fd, height, width)
            return {"ok": True}
        return {"error": f"unknown control request: {sorted(request)}"}

    def _start(self) -> Dict[str, Any]:
        if self.started:
            return {"ok": True}
        if self.exit_status is not None:
            return {"error": "can't start: container has exited"}
        try:
            self.crun.start(self.config.container_id)
        except Exception as exc:  # reported to the engine
            return {"error": str(exc)}
        self.started = True
        return {"ok": True}

    # -- execs ----------------------------------------------------------------
    def _start_exec(self, conn: socket.socket, options: Dict[str, Any], fds: List[int]) -> None:
        """`crun exec` as our child, on the daemon's stdio fds; the reply names its pid."""
        try:
            if len(fds) != 3:
                raise ValueError(f"exec wants 3 stdio fds, got {len(fds)}")
            pid_file = str(options["process"]) + ".pid"
            argv = self.crun.exec_argv(self.config.container_id, str(options["process"]),
                                       console_socket=options.get("console"), pid_file=pid_file)
            child = proc.popen(argv, tool="crun", stdin=fds[0], stdout=fds[1], stderr=fds[2])
        except Exception as exc:  # reported to the daemon, which raises it
            with contextlib.suppress(OSError):
                conn.sendall((json.dumps({"error": str(exc)}) + "\n").encode())
            raise OSError(f"exec not started: {exc}") from None
        finally:
            for fd in fds:
                os.close(fd)
        self.execs[child.pid] = ExecRun(conn, child, pid_file)
        with contextlib.suppress(OSError):
            conn.sendall((json.dumps({"pid": child.pid}) + "\n").encode())
        conn.setblocking(False)
        self._set_interest(conn.fileno(), selectors.EVENT_READ)

    def _exec_hangup(self, fd: int) -> None:
        """The daemon's {"detach": true} on an exec's connection, or its end."""
        run = next(r for r in self.execs.values() if r.conn.fileno() == fd)
        try:
            data, fds, _, _ = socket.recv_fds(run.conn, 4096, 4)
        except BlockingIOError:
            return
        except OSError:  # ECONNRESET: the daemon died
            data, fds = b"", []
        if data:
            self._exec_message(run, data, list(fds))
            return
        self._set_interest(fd, 0)
        if run.detached:
            logger.info("exec %d: its daemon side went away; detached, it runs on", run.child.pid)
            run.conn.close()  # {"exit"} has no reader now
            self._drain_kept(run)
            return
        logger.info("exec %d: its daemon side went away; killing it", run.child.pid)
        self._kill_exec(run)

    def _exec_message(self, run: ExecRun, data: bytes, fds: List[int]) -> None:
        """Act on the complete lines; fds come with {"detach"} and replace the kept ones."""
        lines = (run.pending + data).split(b"\n")
        run.pending = lines.pop()[-4096:]
        for line in filter(None, lines):
            try:
                message = json.loads(line)
            except ValueError:
                logger.warning("exec %d: bad message %r", run.child.pid, line[:80])
                continue
            if isinstance(message, dict) and message.get("detach"):
                run.detached = True
                for fd in list(run.kept):
                    self._close_kept(run, fd)  # unregistered too, should they be draining already
                run.kept, fds = fds, []
                if message.get("drain"):  # `exec -d -t`: the daemon doesn't read its pty at all
                    self._drain_kept(run)
        _close_all(fds)

    def _kill_exec(self, run: ExecRun) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(run.child.pid, signal.SIGKILL)  # not Popen.kill: its poll() could reap behind _reap

    def _drain_kept(self, run: ExecRun) -> None:
        """Read and drop a detached exec's output from now on: nobody else reads it any more."""
        for fd in run.kept:
            os.set_blocking(fd, False)
            self.drains[fd] = run
            self._set_interest(fd, selectors.EVENT_READ)

    def _drain_exec_output(self, fd: int) -> None:
        try:
            if os.read(fd, READ_SIZE):
                return
        except BlockingIOError:
            return
        except OSError:  # EIO: the pty's last process exited
            pass
        self._close_kept(self.drains[fd], fd)

    def _close_kept(self, run: ExecRun, fd: int) -> None:
        if fd in self.interest:
            self._set_interest(fd, 0)
        self.drains.pop(fd, None)
        run.kept.remove(fd)
        with contextlib.suppress(OSError):
            os.close(fd)

    def _exec_exited(self, pid: int, status: int) -> None:
        """Tell the daemon the exit code, then kill what crun left (when it was killed itself)."""
        run = self.execs.pop(pid)
        run.child.returncode = os.waitstatus_to_exitcode(status)  # reaped by us: Popen must not wait
        if run.conn.fileno() in self.interest:
            self._set_interest(run.conn.fileno(), 0)
        with contextlib.suppress(OSError):
            run.conn.setblocking(True)
            run.conn.settimeout(2.0)
            run.conn.sendall((json.dumps({"exit": exit_record(status)["ExitCode"]}) + "\n").encode())
        run.conn.close()
        for fd in list(run.kept):
            self._close_kept(run, fd)
        self._kill_exec_orphans(run.pid_file)
        _unlink_quietly(run.pid_file)

    def _kill_exec_orphans(self, pid_file: Optional[str] = None) -> None:
        """SIGKILL an exec's process that crun's death handed to us (we are the subreaper).

        A live exec process is crun's child; one whose parent is now us lost
        its crun. Its pid is in crun's pid file; without one (crun killed just
        before writing it) it is any child of ours in the container's pid
        namespace other than init.
        """
        me = os.getpid()
        candidates = set(_children_in_pid_ns(me, self.container_pid))
        from_file = _read_pid(pid_file) if pid_file else None
        if from_file:
            candidates.add(from_file)
        for pid in candidates - {self.container_pid, *self.helper_pids, *self.execs}:
            if parent_pid(pid) == me:
                logger.info("killing exec process %d: its crun exec is gone", pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def _finish_execs(self) -> None:
        """The container is gone and its execs with it: report each crun's exit before we go."""
        deadline = time.monotonic() + CLIENT_FLUSH_SECONDS
        for pid in list(self.execs):
            status = _wait_until(pid, deadline)
            if status is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
            self._exec_exited(pid, status)

    # -- the end --------------------------------------------------------------
    def _finish(self) -> Dict[str, Any]:
        """Flush the log, delete crun's state and send clients their last output."""
        assert self.exit_status is not None
        record = exit_record(self.exit_status, self.exited_ns)
        if self.oom_killed:
            record["OOMKilled"] = True
        for fd in list(self.outputs):
            self._close_fd(fd)
        self.log.flush_partial(0)
        self._finish_execs()
        self._delete_container()
        deadline = time.monotonic() + CLIENT_FLUSH_SECONDS
        for client in list(self.clients.values()):
            _send_rest(client, deadline)
            self._drop_client(client)
        return record

    def _delete_container(self) -> None:
        try:
            self.crun.delete(self.config.container_id)
        except Exception:  # the container is gone either way; say why in our log
            logger.exception("crun delete failed")


def _send_rest(client: AttachClient, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if not client.out or remaining <= 0:
        return
    with contextlib.suppress(OSError):
        client.conn.settimeout(remaining)
        client.conn.sendall(client.out)


def _read_line(conn: socket.socket, limit: int = 65536) -> bytes:
    data = bytearray()
    while b"\n" not in data and len(data) < limit:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return bytes(data.split(b"\n", 1)[0])


def _read_request(conn: socket.socket, limit: int = 65536) -> Tuple[Dict[str, Any], List[int]]:
    """A control request line and the fds sent with it (an exec's stdio)."""
    data, fds, _, _ = socket.recv_fds(conn, limit, 3)
    try:
        while b"\n" not in data and len(data) < limit:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        request: Dict[str, Any] = json.loads(data.split(b"\n", 1)[0])
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return request, list(fds)


def _wait_until(pid: int, deadline: float) -> Optional[int]:
    """Reap pid if it exits before deadline: its wait status, else None."""
    while True:
        with contextlib.suppress(ChildProcessError):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def _read_available(fd: int) -> str:
    """What a non-blocking pipe holds now (crun's error message)."""
    chunks = []
    with contextlib.suppress(OSError):
        while True:
            chunk = os.read(fd, READ_SIZE)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def _close_all(fds: List[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def proc_error(command: str, returncode: Optional[int], stderr: str) -> ToolError:
    return ToolError("crun", f"{command} failed with status {returncode}", returncode=returncode, stderr=stderr)


# -- process set-up -------------------------------------------------------------

def parent_pid(pid: int) -> Optional[int]:
    """Field 4 of /proc/PID/stat; None for a gone process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rfind(b")") + 2:].split()[1])


def child_pids(pid: int) -> List[int]:
    """The children of a single-threaded process (its task's children file, else a /proc scan)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(v) for v in f.read().split()]
    except OSError:  # a kernel without CONFIG_PROC_CHILDREN
        return [int(n) for n in os.listdir("/proc") if n.isdigit() and parent_pid(int(n)) == pid]


def _read_pid(path: str) -> Optional[int]:
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _pid_ns(pid: int) -> Optional[str]:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _children_in_pid_ns(parent: int, member: int) -> List[int]:
    """parent's children in member's pid namespace, when that is not parent's own."""
    target = _pid_ns(member)
    if target is None or target == _pid_ns(parent):
        return []
    return [pid for pid in child_pids(parent) if _pid_ns(pid) == target]


def _note_signal(signum: int, _frame: Any) -> None:
    logger.info("ignoring signal %d: the monitor ends when the container does", signum)


def _become_daemon(config: MonitorConfig) -> None:
    """Detach from the engine: own log, no terminal signals, subreaper, pid file."""
    from rootless.util.log import setup_logging

    log_fd = os.open(config.file(LOG), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null_fd = os.open(os.devnull, os.O_RDWR)
    os.dup2(null_fd, 0)
    os.dup2(null_fd, 1)
    os.dup2(log_fd, 2)  # tracebacks that escape logging
    os.close(null_fd)
    os.close(log_fd)
    setup_logging(config.log_level, config.file(LOG))
    # The daemon's stop (SIGTERM) and terminal signals must not end containers.
    # A no-op handler, not SIG_IGN: exec resets handlers, so helpers (slirp4netns)
    # still get the default action; SIG_IGN would be inherited.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, _note_signal)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # subprocess restores it for children
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    # "PID STARTTIME": the start time tells this monitor from a recycled pid. A
    # zygote-forked monitor's cmdline is the zygote's, so it can't be matched by name.
    fs.atomic_write(config.file(MONITOR_PIDFILE), f"{os.getpid()} {process_start_time('self')}\n", 0o600,
                    durable=False)


def detach_and_run(config_path: str, ready_fd: int) -> int:
    """Fork into the background, become the monitor, run it; only the monitor returns.

    Called by main() after an exec, or in a child of the zygote (runtime/zygote.py).
    """
    config = MonitorConfig.from_json(fs.read_json(config_path))
    os.chdir(config.monitor_dir)
    if os.fork() != 0:
        os._exit(0)  # our parent reaps this at once; init adopts the monitor
    os.setsid()
    _become_daemon(config)
    try:
        monitor = Monitor(config, ready_fd)
    except Exception as exc:  # e.g. the log file can't be opened: tell the engine why
        logger.exception("monitor set-up failed")
        with contextlib.suppress(OSError):
            os.write(ready_fd, (json.dumps({"error": f"can't set up monitor: {exc}"}) + "\n").encode())
        return 1
    try:
        return monitor.run()
    except Exception:
        logger.exception("monitor failed")
        return 1
    finally:
        logging.shutdown()


def main(argv: List[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: python -m rootless.runtime.monitor CONFIG READY_FD\n")
        return 2
    return detach_and_run(argv[1], int(argv[2]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
