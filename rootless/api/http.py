"""A small HTTP/1.1 server for the Docker Engine API over a UNIX socket.

Built on the standard library's http.server because the Docker API needs two
things most frameworks hide: responses streamed chunk by chunk (pull progress,
logs -f, events, wait answering its headers at once) and taking over the raw
connection after "101 UPGRADED" for attach and exec.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import io
import json
import logging
import queue
import re
import select
import socket
import socketserver
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import (IO, Any, Callable, Dict, Iterable, Iterator, List, Optional, Pattern, Sequence, Tuple,
                    Union, cast)

from rootless.api.body import READ_SIZE, BodyReader, ChunkedReader, LengthReader, body_length
from rootless.api.errors import error_body, error_json, error_status
from rootless.errors import InvalidArgument, NotModified, RootlessError
from rootless.wire import versions

logger = logging.getLogger(__name__)

API_VERSION = "1.44"
MIN_API_VERSION = "1.24"
SERVER_HEADER = "Docker/28.2.2-rootless (linux)"

@dataclass(frozen=True)
class Limits:
    """What one client may take from the server (config.toml [api], see Settings)."""

    max_json_body: int = 64 * 1024 * 1024
    max_connections: int = 1024
    header_timeout: float = 60.0
    # A body no handler read (a 404, a 400 before parsing) is read and dropped up to
    # this size so the connection stays usable, as Go's net/http does; else it closes.
    discard_body: int = 256 * 1024
    # How long a closing connection keeps reading what the client still sends, so a
    # client blocked writing its body gets our answer instead of EPIPE.
    linger: float = 1.0


# After a body this big, hand freed heap back to the system (see release_memory).
TRIM_AFTER = 1 << 20
_libc: Any = None


def release_memory() -> None:
    """malloc_trim(3): a big JSON body is freed into this thread's malloc arena, which
    glibc keeps; trimming gives it back so an idle daemon stays small. glibc only."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(None)  # the process's own symbols: libc's, no library search
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


def peer_closed(conn: socket.socket) -> bool:
    """Whether the client closed the connection; never blocks.

    POLLHUP, not POLLRDHUP or POLLIN (as the pull's HangupWatcher): a client that
    only shut down its sending side still reads, and a pipelined next request
    must not look like a hang-up.
    """
    fd = conn.fileno()
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLHUP | select.POLLERR)
    try:
        events = poller.poll(0)
    except OSError:
        return True
    return any(mask & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, mask in events)


@dataclass
class Request:
    """One API request, with the path stripped of its /vX.Y prefix."""

    method: str
    path: str
    query: Dict[str, List[str]]
    headers: Any
    api_version: str
    params: Dict[str, str] = field(default_factory=dict)
    body: Any = None  # a body.BodyReader (Any for the handlers that pass it on as a stream)
    connection: Optional[socket.socket] = None
    max_body: int = Limits.max_json_body
    _json: Any = None

    def q(self, name: str, default: Optional[str] = None) -> Optional[str]:
        values = self.query.get(name)
        return values[-1] if values else default

    def q_all(self, name: str) -> List[str]:
        return list(self.query.get(name, []))

    def q_bool(self, name: str, default: bool = False) -> bool:
        value = self.q(name)
        if value is None:
            return default
        return value.lower() not in ("", "0", "false", "no")

    def q_int(self, name: str, default: Optional[int] = None) -> Optional[int]:
        value = self.q(name)
        if not value:  # absent or empty
            return default
        try:
            return int(value)
        except ValueError:
            raise InvalidArgument(f"invalid value for {name}: {value!r}") from None

    def q_json(self, name: str, default: Any = None) -> Any:
        value = self.q(name)
        if not value:
            return default
        try:
            return json.loads(value)
        except ValueError:
            raise InvalidArgument(f"invalid JSON in {name}: {value!r}") from None

    def client_gone(self) -> bool:
        """Whether the client hung up (for handlers that wait: wait, events)."""
        return self.connection is not None and peer_closed(self.connection)

    def read_body(self) -> bytearray:
        """The whole body, refused past max_body (archives are streams: they use .body)."""
        if self.body is None:
            return bytearray()
        length = self.body.length
        if length is not None and length > self.max_body:
            raise self._too_large()
        # One growing buffer (realloc/mremap), not a list of chunks: freed in one piece.
        data = bytearray()
        while True:
            chunk = self.body.read(min(READ_SIZE, self.max_body + 1 - len(data)))
            if not chunk:
                return data
            data += chunk
            if len(data) > self.max_body:
                raise self._too_large()

    def _too_large(self) -> InvalidArgument:
        return InvalidArgument(f"request body too large: more than {self.max_body} bytes of JSON",
                               hint="raise max_json_body in the [api] table of config.toml")

    def json(self, default: Any = None) -> Any:
        if self._json is None:
            raw = self.read_body()
            if not raw.strip():
                self._json = default if default is not None else {}
            else:
                try:
                    self._json = json.loads(raw)
                except ValueError as exc:
                    raise InvalidArgument(f"invalid JSON body: {exc}") from None
        return self._json

    def at_least(self, version: str) -> bool:
        return versions.at_least(self.api_version, version)


@dataclass
class Response:
    """A complete response: status, optional JSON or raw body, headers."""

    status: int = 200
    body: Union[bytes, None] = None
    content_type: str = "application/json"
    headers: Dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: Optional[Dict[str, str]] = None) -> "Response":
        return cls(status, json.dumps(obj).encode() + b"\n", "application/json", headers or {})

    @classmethod
    def empty(cls, status: int = 204) -> "Response":
        return cls(status, None)


@dataclass
class StreamResponse:
    """A chunked response whose body comes from an iterator, flushed per chunk.

    json_lines: an error raised by the iterator after the headers went out is
    reported in-band as {"errorDetail": ..., "error": ...}, as docker does.
    """

    chunks: Iterable[bytes]
    status: int = 200
    content_type: str = "application/json"
    headers: Dict[str, str] = field(default_factory=dict)
    json_lines: bool = True


@dataclass
class Hijack:
    """Take over the connection after "101 UPGRADED" (attach, exec start).

    handler(sock, rfile) owns the connection until it returns; rfile may hold
    bytes the client sent right after its request.
    """

    handler: Callable[[socket.socket, IO[bytes]], None]
    content_type: str = "application/vnd.docker.raw-stream"
    upgrade: bool = True


Result = Union[Response, StreamResponse, Hijack]
Handler = Callable[[Request], Result]
# A route module's table entry: (method, path template, handler(engine, request)).
Route = Tuple[str, str, Callable[[Any, Request], Result]]


class Router:
    """Maps (method, path template) to handlers; templates use {name} segments."""

    def __init__(self) -> None:
        self._routes: List[Tuple[str, Pattern[str], Handler]] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        # {name} matches one segment; {name:path} matches the rest (image names have /).
        regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", template)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self._routes.append((method, re.compile(f"^{regex}$"), handler))

    def bind(self, engine: Any, routes: Sequence[Route]) -> None:
        """Add a route module's table, each handler given the engine first."""
        for method, template, handler in routes:
            self.add(method, template, functools.partial(handler, engine))

    def match(self, method: str, path: str) -> Tuple[Optional[Handler], Dict[str, str], bool]:
        """(handler, params, path_exists) for a request."""
        path_exists = False
        for route_method, regex, handler in self._routes:
            found = regex.match(path)
            if not found:
                continue
            path_exists = True
            if route_method == method:
                params = {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
                return handler, params, True
        return None, {}, path_exists


def check_version(requested: Optional[str]) -> str:
    if requested is None:
        return API_VERSION
    if versions.is_older(API_VERSION, requested):
        raise InvalidArgument(
            f"client version {requested} is too new. Maximum supported API version is {API_VERSION}"
        )
    if versions.is_older(requested, MIN_API_VERSION):
        raise InvalidArgument(
            f"client version {requested} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    return requested


class _DeadlineSocketIO(socket.SocketIO):
    """The connection's raw reader; while deadline is set, reads give up at it.

    A total deadline for a request's line and headers, not one per recv: a
    client trickling a byte a minute would never trip a per-read timeout.
    """

    deadline: Optional[float] = None

    def readinto(self, buffer: Any) -> Optional[int]:
        if self.deadline is None:
            return super().readinto(buffer)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("request headers took too long")
        self._sock.settimeout(remaining)  # type: ignore[attr-defined]
        try:
            return super().readinto(buffer)
        finally:
            self._sock.settimeout(None)  # type: ignore[attr-defined]


class ApiRequestHandler(BaseHTTPRequestHandler):
    """Parses a request, runs the route, writes the result."""

    protocol_version = "HTTP/1.1"
    server_version = SERVER_HEADER
    sys_version = ""
    router: Router  # set on the subclass the server builds
    limits: Limits = Limits()

    def setup(self) -> None:
        super().setup()
        self._raw_in = _DeadlineSocketIO(self.connection, "rb")
        self.rfile = io.BufferedReader(self._raw_in)
        self._linger = False
        self._continue_pending = False

    def handle_one_request(self) -> None:
        self._raw_in.deadline = time.monotonic() + self.limits.header_timeout
        self._continue_pending = False
        super().handle_one_request()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._linger:
                linger_close(self.connection, self.limits.linger)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s", format % args)

    def handle_expect_100(self) -> bool:
        """Send "100 Continue" only once a handler reads the body (a 404 needs none)."""
        self._continue_pending = True
        return True

    def _send_continue(self) -> None:
        if self._continue_pending:
            self._continue_pending = False
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()

    def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
        """The standard library's own errors (bad request line, long headers, unknown method)
        as docker's JSON, never its HTML; the connection closes: where the next request
        would start is unknown."""
        self.log_error("code %d, message %s", code, message)
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # no request line parsed: still answer with a status line
            self.request_version = self.protocol_version
        short = self.responses.get(code, ("error",))[0]
        self._send(Response(code, error_json(message or short)))

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_PATCH(self) -> None:  # no route uses it: a JSON 404/405, not the stdlib's 501
        self._dispatch("PATCH")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    @property
    def _input(self) -> IO[bytes]:
        """The connection's buffered reader (typeshed calls it BufferedIOBase)."""
        return cast(IO[bytes], self.rfile)

    def _open_body(self) -> Optional[BodyReader]:
        """The body's reader, or None after answering 400 to a request with bad framing."""
        try:
            length = body_length(self.headers.get_all("Content-Length") or [],
                                 self.headers.get_all("Transfer-Encoding") or [])
        except InvalidArgument as exc:
            self.close_connection = True
            self._linger = True
            self._send(Response(400, error_json(exc.message)))
            return None
        before = self._send_continue if self._continue_pending else None
        if length is None:
            return ChunkedReader(self._input, before)
        return LengthReader(self._input, length, before)

    def _dispatch(self, method: str) -> None:
        self._raw_in.deadline = None  # the headers are in; bodies and streams take their time
        body = self._open_body()
        if body is None:
            return
        result = self._run(method, body)
        if result is None:  # the client went away
            self.close_connection = True
            return
        if isinstance(result, Response):
            self._settle_body(body)  # before the answer: it may have to say Connection: close
        elif body.before_read is not None:
            self._send_continue()  # a stream may read the body after its headers: 100 goes first
            body.before_read = None
        self._write_result(result)
        if not isinstance(result, Hijack):
            self._settle_body(body)
        if body.consumed >= TRIM_AFTER:
            release_memory()

    def _run(self, method: str, body: BodyReader) -> Optional[Result]:
        """Route and run the request; every error becomes a JSON response."""
        url = urllib.parse.urlsplit(self.path)
        try:
            requested, path = versions.split_path(url.path)
            version = check_version(requested)
            handler, params, exists = self.router.match(method, path)
            if handler is None:
                return Response(405 if exists else 404,
                                error_json("method not allowed" if exists else "page not found"))
            request = Request(
                method=method, path=path,
                query=urllib.parse.parse_qs(url.query, keep_blank_values=True),
                headers=self.headers, api_version=version, params=params,
                body=body, connection=self.connection, max_body=self.limits.max_json_body,
            )
            return handler(request)
        except NotModified:
            return Response.empty(304)
        except RootlessError as exc:
            if exc.http_status >= 500:
                logger.warning("%s %s: %s", method, self.path, exc)
            return Response.json(error_body(exc), error_status(exc))
        except (BrokenPipeError, ConnectionResetError):
            return None
        except Exception as exc:  # a bug: log it, answer 500, keep serving
            logger.exception("internal error in %s %s", method, self.path)
            return Response(500, error_json(f"internal error: {exc}"))

    def _settle_body(self, body: BodyReader) -> None:
        """Leave the connection at the next request: drop a small unread body, else close.

        An unread body left on the connection would be parsed as the next request
        (the docker CLI then sees "Unsolicited response received on idle HTTP channel").
        """
        if body.done:
            return
        if self._continue_pending:  # the client may or may not send the body it announced
            self.close_connection = True
        elif not body.discard(self.limits.discard_body):
            self.close_connection = True
            self._linger = not body.broken

    def _write_result(self, result: Result) -> None:
        try:
            if isinstance(result, Response):
                self._send(result)
            elif isinstance(result, StreamResponse):
                self._stream(result)
            else:
                self._hijack(result)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _common_headers(self) -> None:
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")

    def _connection_headers(self) -> None:
        if self.close_connection:
            self.send_header("Connection", "close")

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self._common_headers()
        for key, value in response.headers.items():
            self.send_header(key, value)
        self._connection_headers()
        if response.body is not None or response.status not in (204, 304):
            body = response.body or b""
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        else:
            self.end_headers()
        self.wfile.flush()

    def _stream(self, response: StreamResponse) -> None:
        self.send_response(response.status)
        self._common_headers()
        self.send_header("Content-Type", response.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for key, value in response.headers.items():
            self.send_header(key, value)
        self._connection_headers()
        self.end_headers()
        self.wfile.flush()
        iterator: Iterator[bytes] = iter(response.chunks)
        try:
            for chunk in iterator:
                if chunk:
                    self._write_chunk(chunk)
        except RootlessError as exc:
            if response.json_lines:
                self._write_chunk(json_error_line(exc.message))
            logger.info("stream ended with error: %s", exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            raise
        except Exception as exc:
            logger.exception("internal error while streaming %s", self.path)
            if response.json_lines:
                self._write_chunk(json_error_line(f"internal error: {exc}"))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _write_chunk(self, chunk: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.flush()

    def _hijack(self, hijack: Hijack) -> None:
        if hijack.upgrade and (self.headers.get("Upgrade") or "").lower() == "tcp":
            head = (
                "HTTP/1.1 101 UPGRADED\r\n"
                f"Content-Type: {hijack.content_type}\r\n"
                "Connection: Upgrade\r\nUpgrade: tcp\r\n"
                f"Api-Version: {API_VERSION}\r\n\r\n"
            )
        else:
            head = (
                "HTTP/1.1 200 OK\r\n"
                f"Content-Type: {hijack.content_type}\r\n"
                f"Api-Version: {API_VERSION}\r\n\r\n"
            )
        try:
            self.wfile.write(head.encode())
            self.wfile.flush()
        except OSError:  # the client left already; the handler still runs, to see that (an exec ends then)
            pass
        self.close_connection = True
        hijack.handler(self.connection, self._input)


def json_error_line(message: str, code: int = 0) -> bytes:
    """The in-band error docker clients expect once a stream has begun."""
    detail: Dict[str, Any] = {"message": message}
    if code:
        detail["code"] = code
    return json.dumps({"errorDetail": detail, "error": message}).encode() + b"\n"


def linger_close(conn: socket.socket, seconds: float) -> None:
    """Half-close, then drop what the client still sends for a while before the close.

    Closing a UNIX socket with unread data makes the client's next write fail
    (EPIPE) before it reads our answer; reading on for a moment lets it finish.
    """
    deadline = time.monotonic() + seconds
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_WR)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            conn.settimeout(remaining)
            if not conn.recv(READ_SIZE):
                return


def refusal(message: str) -> bytes:
    """A whole 503 response, written without reading the request (no thread to spare)."""
    body = error_json(message)
    return (f"HTTP/1.1 503 Service Unavailable\r\nApi-Version: {API_VERSION}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


class _Refuser:
    """One thread answering 503 to connections over the cap, one after another.

    At most `backlog` wait; beyond that a connection is closed unanswered, so a
    flood costs neither threads nor unbounded fds.
    """

    def __init__(self, backlog: int = 64) -> None:
        self._queue: "queue.Queue[Tuple[socket.socket, bytes]]" = queue.Queue(backlog)
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def refuse(self, conn: socket.socket, message: str) -> bool:
        """Queue conn for its 503; False (the caller closes it) when the queue is full."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="api-refuser", daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait((conn, refusal(message)))
            return True
        except queue.Full:
            return False

    def _run(self) -> None:
        while True:
            conn, answer = self._queue.get()
            with contextlib.closing(conn), contextlib.suppress(OSError):
                # The request is usually in already; take it so the close resets nothing.
                conn.settimeout(0.2)
                with contextlib.suppress(socket.timeout):
                    conn.recv(READ_SIZE)
                conn.sendall(answer)
                linger_close(conn, 0.2)


class UnixApiServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """One thread per connection, at most limits.max_connections of them; threads die with the server."""

    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 128

    def __init__(self, router: Router, listener: Optional[socket.socket] = None,
                 path: Optional[str] = None, limits: Optional[Limits] = None) -> None:
        self.limits = limits or Limits()
        handler = type("BoundHandler", (ApiRequestHandler,), {"router": router, "limits": self.limits})
        if listener is not None:
            super().__init__(path or "", handler, bind_and_activate=False)
            self.socket.close()
            self.socket = listener
        else:
            super().__init__(path or "", handler)
        self.active = threading.Event()
        self.open_connections = 0
        self.accepted = 0  # ever admitted: the idle watch sees short requests between its looks
        self._count_lock = threading.Lock()
        self._refuser = _Refuser()
        self._warned_at = -1e9

    def get_request(self) -> Tuple[socket.socket, Any]:
        try:
            conn, addr = self.socket.accept()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                # The listener stays readable: without a pause this would spin a CPU.
                self._warn(f"can't accept connections: {exc.strerror}")
                time.sleep(0.1)
            raise
        return conn, addr or "unix"

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._count_lock:
            admitted = self.open_connections < self.limits.max_connections
            if admitted:
                self.open_connections += 1
                self.accepted += 1
        if not admitted:
            message = (f"too many connections: {self.limits.max_connections} open; "
                       "close some (abandoned `docker wait` or `docker events`?) or raise "
                       "max_connections in the [api] table of config.toml")
            self._warn(f"refusing connections: {self.limits.max_connections} open (max_connections)")
            if not self._refuser.refuse(request, message):
                self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 10.0:  # a flood must not flood the log too
            self._warned_at = now
            logger.warning("%s", message)

    def _release(self) -> None:
        with self._count_lock:
            self.open_connections -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection error", exc_info=True)
