"""A minimal HTTP/1.1 client over a UNIX socket.

Written on the _socket module rather than http.client because importing
http.client (and the email package behind it) costs ~35 ms, which would
dominate `rootless ps`. Not even on the socket module: its IntEnums and
selectors cost ~2 ms of every `ps` (bench/README.md "CLI fast path"), and a
request needs only _socket's methods. It supports what the API needs: bodies by
length or chunked, streamed responses, and taking over the socket after 101.
"""
from __future__ import annotations

import _socket
import io

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    import socket
    from typing import IO, Any, Dict, Iterator, NoReturn, Optional, Protocol, Tuple, Union

from rootless.util import jsonlite
from rootless.util.peercred import check_peer_is_us

USER_AGENT = "rootless-cli"


if TYPE_CHECKING:
    class Dialer(Protocol):
        """A way to a daemon elsewhere (client/dialers.py): dial() gives a connected stream socket."""

        label: str

        def dial(self, timeout: Optional[float]) -> socket.socket: ...

    # A UNIX socket path (the daemon on this machine, its peer uid checked) or a Dialer.
    Target = Union[str, Dialer]

    # rootless.errors (~0.3 ms) is imported where an error is raised: a `ps` that succeeds never needs it.
    from rootless.errors import RootlessError, Unavailable


class HttpResponse:
    """Status, headers (lower-case keys) and a body read on demand."""

    def __init__(self, sock: _socket.socket, rfile: IO[bytes], status: int, headers: Dict[str, str]) -> None:
        self.sock = sock
        self.rfile = rfile
        self.status = status
        self.headers = headers
        self._chunk_left = 0
        self._done = False
        length = headers.get("content-length")
        self._length_left: Optional[int] = int(length) if length is not None else None
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if status in (101, 204, 304):
            self._done = True

    def iter_raw(self, size: int = 65536) -> Iterator[bytes]:
        """Body bytes as they arrive."""
        while not self._done:
            data = self._read_some(size)
            if not data:
                self._done = True
                return
            yield data

    def _read_some(self, size: int) -> bytes:
        if self._chunked:
            if self._chunk_left == 0:
                line = self._read_line()
                self._chunk_left = int(line.split(b";")[0].strip() or b"0", 16)
                if self._chunk_left == 0:
                    self.rfile.readline()
                    return b""
            data = self._read_body(min(size, self._chunk_left))
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                self._read_line()
            return data
        if self._length_left is not None:
            if self._length_left <= 0:
                return b""
            data = self._read_body(min(size, self._length_left))
            self._length_left -= len(data)
            return data
        tail: bytes = self.rfile.read1(size)  # type: ignore[attr-defined]
        return tail

    # A body that stops before its last chunk or its Content-Length was cut off
    # (the daemon died mid-pull): an error, never a quiet end that reads as success.
    def _read_line(self) -> bytes:
        line = self.rfile.readline()
        if not line:
            raise _cut_off()
        return line

    def _read_body(self, size: int) -> bytes:
        data: bytes = self.rfile.read1(size)  # type: ignore[attr-defined]
        if not data:
            raise _cut_off()
        return data

    def read(self) -> bytes:
        return b"".join(self.iter_raw())

    def json(self) -> Any:
        data = self.read()
        return jsonlite.loads(data) if data.strip() else None

    def iter_lines(self) -> Iterator[bytes]:
        """Body split on newlines (for JSON-lines streams)."""
        pending = b""
        for chunk in self.iter_raw():
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if line.strip():
                    yield line
        if pending.strip():
            yield pending

    def iter_json(self) -> Iterator[Any]:
        for line in self.iter_lines():
            yield jsonlite.loads(line)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _cut_off() -> Unavailable:
    from rootless.errors import Unavailable

    return Unavailable("read response: rootlessd closed the connection before the end of the response",
                       hint="the daemon may have stopped or crashed; see rootlessd.log in its runtime dir")


def connect(target: Target, timeout: Optional[float] = None) -> socket.socket:
    """Open the daemon socket as a socket.socket; Unavailable when nobody listens (see _connect)."""
    import socket

    sock = _connect(target, timeout)
    if isinstance(sock, socket.socket):
        return sock
    full = socket.socket(fileno=sock.detach())
    full.settimeout(timeout)
    return full


def _connect(target: Target, timeout: Optional[float]) -> _socket.socket:
    """Open the daemon socket; Unavailable when nobody listens.

    Raises PermissionDenied when another user serves the socket: checked
    before any byte is sent (issue 7: a fake daemon in a runtime dir another
    user pre-created would otherwise read passwords and environments).
    """
    if not isinstance(target, str):
        return target.dial(timeout)
    path = target
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        check_peer_is_us(sock, path)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        sock.close()
        from rootless.errors import Unavailable

        raise Unavailable(f"can't connect to rootlessd: {path}: {exc.strerror}") from None
    except PermissionError as exc:
        sock.close()
        from rootless.errors import PermissionDenied

        raise PermissionDenied(f"can't connect to rootlessd: {path}: {exc.strerror}",
                               hint="the socket belongs to another user") from None
    except BaseException:
        sock.close()
        raise
    return sock


class _Reader(io.RawIOBase):
    """What sock.makefile("rb") reads through, for a _socket.socket (which has no makefile)."""

    def __init__(self, sock: _socket.socket) -> None:
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)


def _parse_head(rfile: IO[bytes]) -> Tuple[int, Dict[str, str]]:
    status_line = rfile.readline()
    if not status_line:
        from rootless.errors import Unavailable

        raise Unavailable("rootlessd closed the connection without answering")
    parts = status_line.decode("latin-1").split(" ", 2)
    status = int(parts[1])
    headers: Dict[str, str] = {}
    while True:
        line = rfile.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        key, _, value = line.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, headers


def request(
    socket_path: Target,
    method: str,
    target: str,
    *,
    body: Optional[bytes] = None,
    body_stream: Optional[IO[bytes]] = None,
    headers: Optional[Dict[str, str]] = None,
    timeout: Optional[float] = None,
) -> HttpResponse:
    """Send one request on a fresh connection and return its response head."""
    return send(socket_path, method, target, body=body, body_stream=body_stream, headers=headers,
                timeout=timeout).response()


def send(
    socket_path: Target,
    method: str,
    target: str,
    *,
    body: Optional[bytes] = None,
    body_stream: Optional[IO[bytes]] = None,
    headers: Optional[Dict[str, str]] = None,
    timeout: Optional[float] = None,
) -> Sent:
    """Send one request on a fresh connection; its answer is read by .response(), meanwhile the
    caller may send another or do other work (cli/fast_run.py: bench/README.md "rootless run,
    client side")."""
    sock = _connect(socket_path, timeout)
    head = [f"{method} {target} HTTP/1.1", "Host: rootless", f"User-Agent: {USER_AGENT}"]
    for key, value in (headers or {}).items():
        head.append(f"{key}: {value}")
    if body_stream is not None:
        head.append("Transfer-Encoding: chunked")
    else:
        head.append(f"Content-Length: {len(body or b'')}")
    sent = Sent(sock, socket_path)
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b""))
        if body_stream is not None:
            for chunk in iter(lambda: body_stream.read(1 << 16), b""):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
    except OSError as exc:
        sent.fail(exc)
    return sent


class Sent:
    """A request written to its own connection, its answer not read yet."""

    def __init__(self, sock: _socket.socket, target: Target) -> None:
        self.sock = sock
        self.target = target

    def response(self) -> HttpResponse:
        """The answer's status and headers; its body is read on demand."""
        sock = self.sock
        try:
            rfile = io.BufferedReader(_Reader(sock)) if isinstance(self.target, str) else sock.makefile("rb")  # type: ignore[attr-defined]
            status, response_headers = _parse_head(rfile)
        except OSError as exc:
            self.fail(exc)
        return HttpResponse(sock, rfile, status, response_headers)

    def fail(self, exc: OSError) -> NoReturn:
        """Close the connection and raise what a failed write or read means for this target."""
        self.close()
        if isinstance(self.target, str):
            raise exc
        raise _remote_failure(self.target, exc) from None

    def close(self) -> None:
        """Give up on the answer (a request the caller no longer needs)."""
        try:
            self.sock.close()
        except OSError:
            pass


def _remote_failure(dialer: Dialer, exc: OSError) -> RootlessError:
    """A remote daemon that drops us: under TLS 1.3 a refused client certificate shows only here,
    at the first read or write after the handshake."""
    from rootless.errors import PermissionDenied, Unavailable

    reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
    if type(exc).__name__.startswith("SSL"):
        return PermissionDenied(f"can't talk to rootlessd: {dialer.label}: TLS handshake failed: {reason}",
                                hint="the daemon refused our client certificate: is it signed by the daemon's "
                                     "CA and still valid? (DOCKER_CERT_PATH, --tlscert)")
    return Unavailable(f"can't talk to rootlessd: {dialer.label}: {reason}")
