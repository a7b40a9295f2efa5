"""A container's output and input: logs and attach sessions (docker's hijack)."""
from __future__ import annotations

import contextlib
import fcntl
import logging
import socket
import struct
import termios
import threading
import time
from typing import IO, Any, Callable, Iterator, Optional, Protocol

from rootless.engine import log_drivers
from rootless.engine.container_model import Container
from rootless.engine.container_runtime import ContainerRuntime
from rootless.errors import FailedPrecondition, InvalidArgument, RootlessError
from rootless.runtime import logs as runtime_logs
from rootless.wire import stdcopy
from rootless.wire.times import NANO, format_rfc3339, parse_timestamp_ns

logger = logging.getLogger(__name__)

DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q
_CTRL_KEYS = "abcdefghijklmnopqrstuvwxyz@[\\]^_"
HEAD_READ_WAIT = 1.0  # seconds to let the client read the 101 answer before any output


def _time_ns(value: Optional[str]) -> int:
    """docker logs --since/--until in any of docker's forms; 0 (unset) for none."""
    return parse_timestamp_ns(value) if value else 0


def log_chunks(container: Container, is_running: Callable[[], bool], *, stdout: bool, stderr: bool, follow: bool,
               tail: str, since: Optional[str], until: Optional[str], timestamps: bool) -> Iterator[bytes]:
    """The container's log as docker's /logs body (stdcopy frames unless TTY).

    Raises FailedPrecondition in moby's words when its driver keeps nothing to read (none),
    here and not in the generator: before the answer's status line goes out.
    """
    refusal = log_drivers.readable(container.log_driver, container.log_options)
    if refusal is not None:
        raise FailedPrecondition(refusal, hint=f"its log driver is {container.log_driver}")
    return _log_chunks(container, is_running, stdout=stdout, stderr=stderr, follow=follow, tail=tail,
                       since=since, until=until, timestamps=timestamps)


def _log_chunks(container: Container, is_running: Callable[[], bool], *, stdout: bool, stderr: bool, follow: bool,
                tail: str, since: Optional[str], until: Optional[str], timestamps: bool) -> Iterator[bytes]:
    if tail in ("", "all"):
        tail_n: Optional[int] = None
    else:
        try:
            tail_n = int(tail)
        except ValueError:
            raise InvalidArgument(f"invalid tail value: {tail}") from None
        if tail_n < 0:
            tail_n = None
    wanted = {"stdout"} if stdout else set()
    if stderr:
        wanted.add("stderr")
    max_files = log_drivers.settings_of(container.log_driver, container.log_options, {}).max_files
    entries = runtime_logs.read_logs(container.log_path, max_files=max_files, tail=tail_n,
                                     since_ns=_time_ns(since), until_ns=_time_ns(until), follow=follow,
                                     is_running=is_running)
    yield b""  # send headers before the first entry (logs -f of a quiet container)
    for entry in entries:
        if entry.stream not in wanted:
            continue
        data = entry.data
        if timestamps:
            data = format_rfc3339(entry.time_ns, NANO).encode() + b" " + data
        yield data if container.tty else stdcopy.frame(entry.stream, data)


class AttachHost(Protocol):
    """What an attach needs from the containers service (engine/containers.py Containers)."""

    @property
    def runtime(self) -> ContainerRuntime:
        """The monitor's stdio socket comes from here."""

    def add_waiting_attach(self, container: Container, session: "AttachSession") -> bool:
        """Queue for the next start; False when the container already runs."""

    def exists(self, container_id: str) -> bool:
        """The container was not removed meanwhile."""


class AttachSession:
    """One hijacked attach connection bridged to the container's monitor."""

    def __init__(self, host: AttachHost, container: Container, *, stdin: bool, stdout: bool, stderr: bool,
                 logs: bool, detach_keys: Optional[str], stream: bool = True) -> None:
        self.host = host
        self.container = container
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.logs = logs
        self.stream = stream
        self.detach = parse_detach_keys(detach_keys) if container.tty and stdin else b""
        self._monitor: Optional[socket.socket] = None
        self._connected = threading.Event()
        self._error: Optional[str] = None
        self._queued = False

    def register(self) -> None:
        """Queue for the next start now, before the 101 answer goes out.

        docker sends start the moment it has the 101; an attach queued later
        connects after crun start, and a quick container's output is lost.
        Without stream (logs only) there is nothing to wait for.
        """
        if not self.stream:
            return
        self._queued = self.host.add_waiting_attach(self.container, self)

    def connect(self) -> None:
        """Open the monitor's attach socket (before crun start, or at once when running)."""
        try:
            self._monitor = self.host.runtime.attach(self.container.id, self.stdin, self.stdout,
                                                             self.stderr)
        except RootlessError as exc:
            self._error = exc.message
        self._connected.set()

    def cancel(self) -> None:
        self._connected.set()

    def serve(self, client: socket.socket, rfile: IO[bytes]) -> None:
        """Bridge client <-> monitor until the container's output ends or the client goes."""
        if self.logs:
            wait_until_peer_read(client, HEAD_READ_WAIT)
            self._send_existing_logs(client)
        if not self.stream:
            # docker's stream=0: the past output only, then the end of the response,
            # running or not (docker-py's attach(logs=True, stream=False) reads to EOF).
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            return
        if not self._queued:
            self.connect()
        else:
            while not self._connected.wait(1.0):
                if not self.host.exists(self.container.id):
                    return
        monitor = self._monitor
        if monitor is None:
            if self._error:
                logger.info("attach %s: %s", self.container.id[:12], self._error)
            return
        pump_in = threading.Thread(target=self._pump_stdin, args=(rfile, monitor, client), daemon=True)
        if self.stdin:
            pump_in.start()
        try:
            self._pump_output(monitor, client)
        finally:
            with contextlib.suppress(OSError):
                monitor.close()
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)

    def _send_existing_logs(self, client: socket.socket) -> None:
        if log_drivers.readable(self.container.log_driver, self.container.log_options) is not None:
            return  # --log-driver none: no past output kept; the live stream still flows
        chunks = log_chunks(self.container, lambda: False, stdout=self.stdout, stderr=self.stderr,
                            follow=False, tail="all", since=None, until=None, timestamps=False)
        for chunk in chunks:
            if chunk:
                client.sendall(chunk)

    def _pump_output(self, monitor: socket.socket, client: socket.socket) -> None:
        decoder = stdcopy.Demuxer()
        while True:
            data = monitor.recv(65536)
            if not data:
                return
            if not self.container.tty:
                client.sendall(data)  # already stdcopy frames
                continue
            for _, payload in decoder.feed(data):
                client.sendall(payload)

    def _pump_stdin(self, rfile: IO[bytes], monitor: socket.socket, client: socket.socket) -> None:
        """Client stdin to the container; EOF (half-close) closes the container's stdin."""
        matched = 0
        try:
            while True:
                data = rfile.read1(65536)  # type: ignore[attr-defined]
                if not data:
                    break
                if self.detach:
                    cut, matched = _scan_detach(data, self.detach, matched)
                    if cut is not None:
                        if cut:
                            monitor.sendall(data[:cut])
                        with contextlib.suppress(OSError):
                            client.shutdown(socket.SHUT_RDWR)
                        monitor.close()
                        return
                monitor.sendall(data)
        except OSError:
            return
        with contextlib.suppress(OSError):
            monitor.shutdown(socket.SHUT_WR)


def wait_until_peer_read(sock: socket.socket, timeout: float) -> None:
    """Wait (bounded) until the peer has read all we sent: here, the 101 answer.

    docker-py reads the answer's head through a buffered reader, then takes
    the raw socket: bytes that arrived with the head sit in that buffer and
    are lost to it. Output sent at once after the head (attach logs=1) must
    wait until the head has left our queue (SIOCOUTQ, which is TIOCOUTQ).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            queued = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]
        except OSError:
            return
        if queued <= 0:
            return
        time.sleep(0.002)


def parse_detach_keys(spec: Optional[str]) -> bytes:
    """"ctrl-p,ctrl-q" -> b"\\x10\\x11"; moby's term.ToBytes: ctrl-[a-z@[\\]^_] or one character."""
    if not spec:
        return DEFAULT_DETACH_KEYS
    keys = bytearray()
    for part in spec.split(","):
        part = part.strip()
        if part.startswith("ctrl-") and len(part) == 6 and part[5].lower() in _CTRL_KEYS:
            keys.append(ord(part[5].upper()) & 0x1F)  # the control code of that key
        elif len(part) == 1:
            keys.append(ord(part))
        else:
            raise InvalidArgument(f"invalid detach keys: {spec}",
                                  hint="use ctrl-<a-z, @, [, \\, ], ^ or _> or single characters, comma-separated")
    return bytes(keys)


def pump_detachable(rfile: IO[bytes], write: Callable[[bytes], Any], keys: bytes,
                    on_detach: Callable[[], None]) -> None:
    """Client bytes to write() until EOF, or until the detach keys (then on_detach()).

    Bytes before the keys reach the process; the keys do not, unless a read
    split them (the first part went through before the match was complete).
    """
    matched = 0
    try:
        while True:
            data = rfile.read1(65536)  # type: ignore[attr-defined]
            if not data:
                return
            cut, matched = _scan_detach(data, keys, matched)
            if cut is not None:
                if cut:
                    write(data[:cut])
                on_detach()
                return
            write(data)
    except (OSError, ValueError):
        return


def _scan_detach(data: bytes, keys: bytes, matched: int) -> "tuple[Optional[int], int]":
    """Where the detach sequence completes in data (index of its start), and the partial match."""
    for index, byte in enumerate(data):
        if byte == keys[matched]:
            matched += 1
            if matched == len(keys):
                return max(0, index - len(keys) + 1), 0
        else:
            matched = 1 if byte == keys[0] else 0
    return None, matched
