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
import os
import sys
import time

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast_run.py)
if TYPE_CHECKING:
    import signal as _signal  # typeshed has no stub for _signal; signal's functions are its own
    from typing import IO, Any, Callable, Dict, List, Optional
else:
    import _signal

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
# The number of each, for its name (signal.Signals(number).name). This module uses _signal, not
# signal, and has no contextlib or threading at import: each loads enum or collections and
# functools, ~2 ms of a `rootless run` together (bench/README.md "CLI start-up, session 9").
_PROXIED_NAMES = {getattr(_signal, name): name for name in PROXIED_SIGNALS}


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
            import threading

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


class RawTerminal:
    """`with RawTerminal(fd)`: the terminal on fd in raw mode (so ctrl-c travels to the pty), restored after."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: Optional[List[Any]] = None

    def __enter__(self) -> None:
        if not os.isatty(self.fd):
            return
        import termios
        import tty

        saved = termios.tcgetattr(self.fd)
        try:
            tty.setraw(self.fd, termios.TCSANOW)
        except BaseException:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, saved)
            raise
        self.saved = saved

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            import termios

            saved, self.saved = self.saved, None
            termios.tcsetattr(self.fd, termios.TCSADRAIN, saved)


def terminal_size(fd: int) -> Optional[List[int]]:
    """[height, width] of the terminal on fd, or None when it is not a terminal."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return [size.lines, size.columns]


class ResizeOnWinch:
    """`with ResizeOnWinch(resize, fd)`: send the terminal size now and on every SIGWINCH."""

    def __init__(self, resize: Callable[[int, int], None], fd: int) -> None:
        self.resize = resize
        self.fd = fd
        self.previous: Any = None

    def _send_size(self, *_: Any) -> None:
        size = terminal_size(self.fd)
        if size:
            try:
                self.resize(size[0], size[1])
            except Exception as exc:  # a failed resize must not kill the session
                _debug("resize failed: %s", exc)

    def __enter__(self) -> None:
        self.previous = _signal.signal(_signal.SIGWINCH, self._send_size)
        try:
            self._send_size()
        except BaseException:
            _signal.signal(_signal.SIGWINCH, self.previous)
            raise

    def __exit__(self, *exc: object) -> None:
        _signal.signal(_signal.SIGWINCH, self.previous)


class ForwardSignals:
    """`with ForwardSignals(kill)`: --sig-proxy, our signals delivered to the container through POST /kill."""

    def __init__(self, kill: Callable[[str], None]) -> None:
        self.kill = kill
        self.previous: Dict[int, Any] = {}

    def _forward(self, number: int, _: Any) -> None:
        try:
            self.kill(_PROXIED_NAMES[number])
        except Exception as exc:  # the container may be gone already
            _debug("signal forward failed: %s", exc)

    def __enter__(self) -> None:
        self.previous = {number: _signal.signal(number, self._forward) for number in _PROXIED_NAMES}

    def __exit__(self, *exc: object) -> None:
        for number, handler in self.previous.items():
            _signal.signal(number, handler)
