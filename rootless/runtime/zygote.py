"""A pre-imported, single-threaded process that forks container monitors on request.

Exec'ing `python -m rootless.runtime.monitor` costs ~45-50 ms per container
start, almost all of it interpreter start-up and imports (bench/README.md).
The daemon can't fork monitors itself: it is multi-threaded, and a forked
child that goes on running Python may find locks held by threads that no
longer exist. So the daemon starts this zygote once (fork+exec, like any
helper); it imports the monitor and waits on a SOCK_SEQPACKET socketpair.
Android's zygote and podman's pause process are the models.

Protocol, one request at a time: the daemon sends the monitor's config path
as the payload and its ready fd with SCM_RIGHTS; the zygote forks a child
that detaches exactly as the exec'd monitor does (fork again, setsid; init
adopts the monitor), reaps that child and answers b"ok" (or b"error: ...").
The monitor's ready line then reaches the daemon on the ready fd as before.
The zygote exits at EOF, i.e. when the daemon closes its end or dies (also
on SIGKILL); monitors it forked live on. No PR_SET_PDEATHSIG: that fires
when the daemon *thread* that spawned us exits, not the daemon.
"""
from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import os
import socket
import sys
import threading
from typing import Any, List, Mapping, Optional, Sequence

from rootless.util import proc

logger = logging.getLogger(__name__)

MAX_REQUEST = 4096
OK = b"ok"


# -- the zygote process ---------------------------------------------------------------

# What monitors import lazily; imported here once, before any fork, so no monitor pays.
# encodings.ascii: looked up lazily by the first ascii decode (seen with PYTHONVERBOSE in a monitor's log).
PRELOAD = ("encodings.ascii", "rootless.runtime.network.pasta", "rootless.runtime.network.slirp",
           "rootless.util.log")


def _preload() -> Any:
    for name in PRELOAD:
        importlib.import_module(name)
    return importlib.import_module("rootless.runtime.monitor")


def _fork_monitor(monitor: Any, conn: socket.socket, config_path: str, ready_fd: int) -> bytes:
    """Fork a child that becomes the monitor (it forks once more); reap it; the reply."""
    try:
        pid = os.fork()
    except OSError as exc:
        return f"error: can't fork a monitor: {exc}".encode()
    if pid == 0:  # the child: never return into the zygote's loop
        code = 1
        gc.enable()  # for the monitor's own objects; the zygote's are frozen (see serve)
        try:
            conn.close()
            code = monitor.detach_and_run(config_path, ready_fd)
        except BaseException:  # noqa: B036  (the traceback goes to our stderr, the daemon log)
            logger.exception("monitor for %s failed", config_path)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return f"error: monitor launcher exited with status {os.waitstatus_to_exitcode(status)}".encode()
    return OK


def serve(conn: socket.socket) -> int:
    """Answer requests until the daemon goes away."""
    # Copy-on-write: a monitor shares the zygote's pages until it writes to them, and a
    # garbage collection in the monitor writes to every object it visits (the gc header).
    # As the gc docs advise for fork without exec: no collection here, so imports leave
    # no holes, and every object frozen before a fork, so the monitor's collections skip
    # them. That halved what each monitor dirties (bench/README.md, "Monitor memory").
    gc.disable()
    monitor = _preload()
    while True:
        try:
            payload, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 1)
        except (ConnectionResetError, OSError):
            return 0
        if not payload:
            for fd in fds:
                os.close(fd)
            return 0  # EOF: the daemon closed its end or died
        if len(fds) != 1:
            for fd in fds:
                os.close(fd)
            conn.send(b"error: bad request: want one ready fd")
            continue
        gc.freeze()
        try:
            reply = _fork_monitor(monitor, conn, payload.decode(), fds[0])
        finally:
            os.close(fds[0])
        conn.send(reply)


def main(argv: List[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m rootless.runtime.zygote SOCKET_FD\n")
        return 2
    with socket.socket(fileno=int(argv[1])) as conn:
        return serve(conn)


# -- the daemon's side ----------------------------------------------------------------

class Zygote:
    """The daemon's handle on its zygote: started on first use, restarted when it died."""

    def __init__(self, python: str, env: Optional[Mapping[str, str]] = None) -> None:
        self.python = python
        self.env = env
        self._lock = threading.Lock()
        self._conn: Optional[socket.socket] = None
        self._child: Any = None

    def fork_monitor(self, config_path: str, ready_fd: int, timeout: float) -> bool:
        """Have the zygote fork a monitor; False when it could not take the request.

        On False nothing was started (the fd never reached a zygote), so the
        caller can exec a monitor instead. After True, the monitor's report
        or EOF on the ready fd says how it went, as for an exec'd monitor.
        """
        with self._lock:
            try:
                conn = self._ensure_started()
                socket.send_fds(conn, [config_path.encode()], [ready_fd])
            except OSError as exc:
                logger.warning("monitor zygote unusable, exec'ing the monitor: %s", exc)
                self._stop()
                return False
            try:
                conn.settimeout(timeout)
                reply = conn.recv(MAX_REQUEST)
            except ConnectionResetError:
                # It died with our request unread (killed between our liveness check and the
                # send): it never saw the ready fd, so nothing was forked and an exec'd monitor
                # is safe. A zygote that read it and then died gives EOF instead.
                logger.warning("monitor zygote died before taking the request, exec'ing the monitor")
                self._stop()
                return False
            except OSError as exc:
                reply = f"error: no reply from the zygote: {exc}".encode()
            if reply != OK:
                logger.warning("monitor zygote: %s", reply.decode("utf-8", "replace") or "exited")
                if not reply or reply.startswith(b"error: no reply"):
                    self._stop()
            return True

    def _ensure_started(self) -> socket.socket:
        if self._conn is not None and self._child is not None and self._child.poll() is None:
            return self._conn
        self._stop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            argv: Sequence[str] = [self.python, "-m", "rootless.runtime.zygote", str(theirs.fileno())]
            self._child = proc.popen(argv, tool="monitor", pass_fds=(theirs.fileno(),),
                                     start_new_session=True, stderr=None, env=self.env)
        self._conn = ours
        return ours

    def _stop(self) -> None:
        """Close our end (the zygote exits at EOF) and reap it."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._child is not None:
            with contextlib.suppress(Exception):
                proc.terminate(self._child, timeout=2.0)
            self._child = None

    def close(self) -> None:
        with self._lock:
            self._stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
