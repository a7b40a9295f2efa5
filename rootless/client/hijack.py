"""Streaming over a hijacked connection: attach, exec and run's attached mode.

After "101 UPGRADED" the socket carries raw bytes both ways (DOCKER-API.md
section 3): our stdin goes out as is; output comes back raw for a TTY or in
stdcopy frames otherwise. When our stdin ends we half-close the socket
(shutdown(SHUT_WR)) and keep reading until the daemon closes it, as docker's
CLI does with CloseWrite(). Detach keys (default ctrl-p,ctrl-q) are spotted
in our input like docker's escape proxy (moby `pkg/term` EscapeProxy).
"""
from __future__ import annotations

import _socket
import contextlib
import os
import signal
import sys
import threading
import time

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast_run.py)
if TYPE_CHECKING:
    from typing import IO, Any, Callable, Iterator, List, Optional

from rootless.wire.stdcopy import STDERR, Demuxer
from rootless.client.transport import HttpResponse
from rootless.errors import InvalidArgument


def _debug(message: str, *args: object) -> None:
    """logger.debug without importing logging, ~3 ms of every CLI start (bench/README.md).

    Until something imports and configures logging (the CLI's --debug does),
    a debug record would go nowhere anyway.
    """
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.getLogger(__name__).debug(message, *args)


DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
DETACH_GRACE = 2.0
# Signals docker's CLI forwards with --sig-proxy (all but SIGCHLD, SIGWINCH, SIGPIPE, SIGURG).
PROXIED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def parse_detach_keys(spec: str) -> bytes:
    """'ctrl-p,ctrl-q' -> b'\\x10\\x11'; single characters stand for themselves."""
    keys = bytearray()
    for part in (spec or DEFAULT_DETACH_KEYS).split(","):
        if len(part) == 1:
            keys.append(ord(part))
        elif len(part) == 6 and part.lower().startswith("ctrl-") and 64 <= ord(part[5].upper()) <= 95:
            keys.append(ord(part[5].upper()) - 64)
        else:
            raise InvalidArgument(f"invalid detach keys: {spec!r}: unknown key {part!r}",
                                  hint="use a comma-separated list like ctrl-p,ctrl-q or a,ctrl-@")
    return bytes(keys)


class EscapeFilter:
    """Watches our input for the detach sequence; the engine acts on it, we only take note.

    The sequence still goes to the daemon: its escape proxy detaches the session
    without closing the process's stdin, which closing our socket would do.
    """

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.matched = 0
        self.detached = False

    def feed(self, data: bytes) -> bytes:
        """data up to the end of a completed detach sequence (all of it when none completes)."""
        for index, byte in enumerate(data):
            if not self.keys:
                break
            if byte == self.keys[self.matched]:
                self.matched += 1
            else:
                self.matched = 1 if byte == self.keys[0] else 0
            if self.matched == len(self.keys):
                self.detached = True
                return data[:index + 1]
        return data


class Session:
    """One hijacked stream: pumps stdin to the daemon and output back until it closes."""

    def __init__(self, response: HttpResponse, tty: bool, stdin: Optional[int] = None,
                 stdout: Optional[IO[bytes]] = None, stderr: Optional[IO[bytes]] = None,
                 detach_keys: bytes = b"") -> None:
        self.response = response
        self.tty = tty
        self.stdin = stdin
        self.stdout = stdout if stdout is not None else sys.stdout.buffer
        self.stderr = stderr if stderr is not None else sys.stderr.buffer
        self.escape = EscapeFilter(detach_keys)

    @property
    def detached(self) -> bool:
        return self.escape.detached

    def run(self) -> None:
        """Stream until the daemon closes the connection (or the user detaches)."""
        if self.stdin is not None:
            threading.Thread(target=self._pump_input, name="stdin", daemon=True).start()
        try:
            self._pump_output()
        finally:
            self.response.close()

    def _pump_output(self) -> None:
        demuxer = None if self.tty else Demuxer()
        read = self.response.rfile.read1  # type: ignore[attr-defined]
        while True:
            try:
                data = read(1 << 16)
            except OSError:  # shut down under us by a detach
                return
            if not data:
                return
            if demuxer is None:
                self._write(self.stdout, data)
                continue
            for stream, payload in demuxer.feed(data):
                self._write(self.stderr if stream == STDERR else self.stdout, payload)

    @staticmethod
    def _await_detach(sock: _socket.socket) -> None:
        # The engine closes the stream when it sees the sequence; an engine that
        # does not (non-TTY session) gets the connection cut after a grace period.
        time.sleep(DETACH_GRACE)
        try:
            sock.shutdown(_socket.SHUT_RDWR)
        except OSError:
            pass

    @staticmethod
    def _write(out: IO[bytes], data: bytes) -> None:
        out.write(data)
        out.flush()

    def _pump_input(self) -> None:
        sock = self.response.sock
        assert self.stdin is not None
        try:
            while True:
                data = os.read(self.stdin, 4096)
                if not data:
                    # EOF on our stdin closes the process's stdin. The plain socket's shutdown, also
                    # for TLS: SSLSocket.shutdown drops its TLS state, and the output still to come
                    # would then be read as raw records (issue 14).
                    _socket.socket.shutdown(sock, _socket.SHUT_WR)
                    return
                data = self.escape.feed(data)
                if data:
                    sock.sendall(data)
                if self.escape.detached:
                    self._await_detach(sock)
                    return
        except OSError as exc:
            _debug("stdin pump stopped: %s", exc)


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    """Put the terminal on fd in raw mode (so ctrl-c travels to the pty), restore after."""
    if not os.isatty(fd):
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def terminal_size(fd: int) -> Optional[List[int]]:
    """[height, width] of the terminal on fd, or None when it is not a terminal."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return [size.lines, size.columns]


@contextlib.contextmanager
def resize_on_winch(resize: Callable[[int, int], None], fd: int) -> Iterator[None]:
    """Send the terminal size now and on every SIGWINCH."""

    def send_size(*_: Any) -> None:
        size = terminal_size(fd)
        if size:
            try:
                resize(size[0], size[1])
            except Exception as exc:  # a failed resize must not kill the session
                _debug("resize failed: %s", exc)

    previous = signal.signal(signal.SIGWINCH, send_size)
    try:
        send_size()
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)


@contextlib.contextmanager
def forward_signals(kill: Callable[[str], None]) -> Iterator[None]:
    """--sig-proxy: deliver our signals to the container through POST /kill."""

    def forward(number: int, _: Any) -> None:
        try:
            kill(signal.Signals(number).name)
        except Exception as exc:  # the container may be gone already
            _debug("signal forward failed: %s", exc)

    previous = {name: signal.signal(getattr(signal, name), forward) for name in PROXIED_SIGNALS}
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)
