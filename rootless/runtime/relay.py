"""Copying between a hijacked API connection and a container's stdio.

Docker's attach and exec-start hijack the HTTP connection: without a TTY the
output goes out as stdcopy frames, with one as raw bytes; the client's bytes
are stdin, and its half-close is stdin's EOF. The monitor's attach socket
already speaks frames, so attach only unwraps them for a TTY.
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import socket
import threading
from typing import IO, Callable, Dict, Optional

from rootless.runtime import stdcopy
from rootless.runtime.supervisor import ExecProcess

logger = logging.getLogger(__name__)

CHUNK = 65536
EOT = b"\x04"


def _pump_stdin(source: IO[bytes], write: Callable[[bytes], None], at_eof: Callable[[], None]) -> threading.Thread:
    """Copy client bytes to write() in a thread; at_eof() once the client half-closes."""

    def pump() -> None:
        try:
            while True:
                data = source.read1(CHUNK)  # type: ignore[attr-defined]
                if not data:
                    break
                write(data)
        except (OSError, ValueError) as exc:
            logger.debug("stdin relay ended: %s", exc)
        with contextlib.suppress(OSError):
            at_eof()

    thread = threading.Thread(target=pump, name="stdin-relay", daemon=True)
    thread.start()
    return thread


def _finish(client: socket.socket) -> None:
    """End the hijacked stream; also wakes a stdin pump blocked on it."""
    with contextlib.suppress(OSError):
        client.shutdown(socket.SHUT_RDWR)


def relay_attach(client: socket.socket, client_in: IO[bytes], monitor: socket.socket,
                 tty: bool, stdin: bool) -> None:
    """Serve one attach: client_in is the request's rfile (it may hold early stdin)."""
    try:
        if stdin:
            _pump_stdin(client_in, monitor.sendall, lambda: monitor.shutdown(socket.SHUT_WR))
        decoder = stdcopy.FrameDecoder()
        while True:
            data = monitor.recv(CHUNK)
            if not data:
                return
            if tty:
                for _, payload in decoder.feed(data):
                    client.sendall(payload)
            else:
                client.sendall(data)  # already stdcopy frames
    except OSError as exc:
        logger.debug("attach relay ended: %s", exc)
    finally:
        _finish(client)
        monitor.close()


def _read_chunk(fd: int) -> bytes:
    try:
        return os.read(fd, CHUNK)
    except OSError as exc:  # EIO: the pty's other side is gone
        if exc.errno == errno.EIO:
            return b""
        raise


def _copy_output(client: socket.socket, streams: Dict[int, int], tty: bool) -> None:
    """Send what the fds produce until each reaches EOF; stream numbers pick the frame."""
    with selectors.DefaultSelector() as sel:
        for fd in streams:
            sel.register(fd, selectors.EVENT_READ)
        while streams:
            for key, _ in sel.select():
                data = _read_chunk(key.fd)
                if not data:
                    sel.unregister(key.fd)
                    del streams[key.fd]
                    continue
                client.sendall(data if tty else stdcopy.stdcopy_frame(streams[key.fd], data))


def relay_exec(client: socket.socket, client_in: IO[bytes], process: ExecProcess,
               stdin: bool, timeout: Optional[float] = None) -> int:
    """Serve one exec start; returns the process's exit code."""
    try:
        if process.tty:
            master = process.master_fd
            if stdin:
                _pump_stdin(client_in, lambda data: _write_all(master, data), lambda: None)
            _copy_output(client, {master: stdcopy.STDOUT}, tty=True)
        else:
            child = process.child
            if stdin and child.stdin is not None:
                _pump_stdin(client_in, lambda data: _write_pipe(child.stdin, data), child.stdin.close)
            streams = {child.stdout.fileno(): stdcopy.STDOUT, child.stderr.fileno(): stdcopy.STDERR}
            _copy_output(client, streams, tty=False)
    except OSError as exc:
        logger.debug("exec relay ended: %s", exc)
    finally:
        _finish(client)
    return process.wait(timeout)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_pipe(pipe: IO[bytes], data: bytes) -> None:
    pipe.write(data)
    pipe.flush()
