"""A small HTTP/1.1 server for the Docker Engine API over a UNIX socket.

Built on the standard library's http.server because the Docker API needs two
things most frameworks hide: responses streamed chunk by chunk (pull progress,
logs -f, events, wait answering its headers at once) and taking over the raw
connection after "101 UPGRADED" for attach and exec.
"""
from __future__ import annotations

import functools
import json
import logging
import re
import socket
import socketserver
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import (IO, Any, Callable, Dict, Iterable, Iterator, List, Optional, Pattern, Sequence, Tuple,
                    Union, cast)

from rootless.api.errors import error_body, error_status
from rootless.errors import InvalidArgument, NotModified, RootlessError

logger = logging.getLogger(__name__)

API_VERSION = "1.44"
MIN_API_VERSION = "1.24"
SERVER_HEADER = "Docker/28.2.2-rootless (linux)"
_VERSION_PREFIX = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")


def version_tuple(version: str) -> Tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


class ChunkedReader:
    """Reads a Transfer-Encoding: chunked body as a plain stream."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.left = 0
        self.done = False

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while not self.done and (size < 0 or len(out) < size):
            if self.left == 0:
                line = self.raw.readline(65537).split(b";")[0].strip()
                self.left = int(line or b"0", 16)
                if self.left == 0:
                    self._skip_trailers()
                    break
            want = self.left if size < 0 else min(self.left, size - len(out))
            data = self.raw.read(want)
            if not data:
                raise InvalidArgument("request body ended early")
            out += data
            self.left -= len(data)
            if self.left == 0:
                self.raw.readline()
        return bytes(out)

    def _skip_trailers(self) -> None:
        self.done = True
        while self.raw.readline(65537) not in (b"\r\n", b"\n", b""):
            pass


class LimitedReader:
    """Reads exactly Content-Length bytes of a body."""

    def __init__(self, raw: IO[bytes], length: int) -> None:
        self.raw = raw
        self.left = length

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        want = self.left if size < 0 else min(size, self.left)
        data = self.raw.read(want)
        self.left -= len(data)
        return data


@dataclass
class Request:
    """One API request, with the path stripped of its /vX.Y prefix."""

    method: str
    path: str
    query: Dict[str, List[str]]
    headers: Any
    api_version: str
    params: Dict[str, str] = field(default_factory=dict)
    body: Any = None
    connection: Optional[socket.socket] = None
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

    def read_body(self) -> bytes:
        if self.body is None:
            return b""
        data: bytes = self.body.read()  # a ChunkedReader or LimitedReader (body is Any for the handlers)
        return data

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
        return version_tuple(self.api_version) >= version_tuple(version)


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

    def get(self, template: str) -> Callable[[Handler], Handler]:
        return self._decorator("GET", template)

    def post(self, template: str) -> Callable[[Handler], Handler]:
        return self._decorator("POST", template)

    def delete(self, template: str) -> Callable[[Handler], Handler]:
        return self._decorator("DELETE", template)

    def head(self, template: str) -> Callable[[Handler], Handler]:
        return self._decorator("HEAD", template)

    def put(self, template: str) -> Callable[[Handler], Handler]:
        return self._decorator("PUT", template)

    def _decorator(self, method: str, template: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, template, handler)
            return handler
        return register

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


def split_version(path: str) -> Tuple[Optional[str], str]:
    """("1.44", "/containers/json") from "/v1.44/containers/json"."""
    found = _VERSION_PREFIX.match(path)
    if not found:
        return None, path
    return f"{found.group(1)}.{found.group(2)}", found.group(3)


def check_version(requested: Optional[str]) -> str:
    if requested is None:
        return API_VERSION
    if version_tuple(requested) > version_tuple(API_VERSION):
        raise InvalidArgument(
            f"client version {requested} is too new. Maximum supported API version is {API_VERSION}"
        )
    if version_tuple(requested) < version_tuple(MIN_API_VERSION):
        raise InvalidArgument(
            f"client version {requested} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    return requested


class ApiRequestHandler(BaseHTTPRequestHandler):
    """Parses a request, runs the route, writes the result."""

    protocol_version = "HTTP/1.1"
    server_version = SERVER_HEADER
    sys_version = ""
    router: Router  # set on the subclass the server builds

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s", format % args)

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

    @property
    def _input(self) -> IO[bytes]:
        """The connection's buffered reader (typeshed calls it BufferedIOBase)."""
        return cast(IO[bytes], self.rfile)

    def _body_reader(self) -> Any:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return ChunkedReader(self._input)
        length = int(self.headers.get("Content-Length") or 0)
        return LimitedReader(self._input, length)

    def _dispatch(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        body = self._body_reader()
        try:
            requested, path = split_version(url.path)
            version = check_version(requested)
            handler, params, exists = self.router.match(method, path)
            if handler is None:
                status = 405 if exists else 404
                message = "method not allowed" if exists else "page not found"
                self._send_error(status, message)
                return
            request = Request(
                method=method, path=path,
                query=urllib.parse.parse_qs(url.query, keep_blank_values=True),
                headers=self.headers, api_version=version, params=params,
                body=body, connection=self.connection,
            )
            result = handler(request)
        except NotModified:
            self._send(Response.empty(304))
        except RootlessError as exc:
            self._send_error(error_status(exc), error_body(exc)["message"])
            if exc.http_status >= 500:
                logger.warning("%s %s: %s", method, self.path, exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        except Exception as exc:  # a bug: log it, answer 500, keep serving
            logger.exception("internal error in %s %s", method, self.path)
            self._send_error(500, f"internal error: {exc}")
        else:
            self._write_result(result)
        self._drain(body)

    def _drain(self, body: Any) -> None:
        """Consume an unread body so the next request on this connection parses."""
        try:
            while body.read(65536):
                pass
        except Exception:
            self.close_connection = True

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

    def _send_error(self, status: int, message: str) -> None:
        self._send(Response.json({"message": message}, status))

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self._common_headers()
        for key, value in response.headers.items():
            self.send_header(key, value)
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
        self.wfile.write(head.encode())
        self.wfile.flush()
        self.close_connection = True
        hijack.handler(self.connection, self._input)


def json_error_line(message: str, code: int = 0) -> bytes:
    """The in-band error docker clients expect once a stream has begun."""
    detail: Dict[str, Any] = {"message": message}
    if code:
        detail["code"] = code
    return json.dumps({"errorDetail": detail, "error": message}).encode() + b"\n"


class UnixApiServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """One thread per connection; threads die with the server."""

    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 128

    def __init__(self, router: Router, listener: Optional[socket.socket] = None,
                 path: Optional[str] = None) -> None:
        handler = type("BoundHandler", (ApiRequestHandler,), {"router": router})
        if listener is not None:
            super().__init__(path or "", handler, bind_and_activate=False)
            self.socket.close()
            self.socket = listener
        else:
            super().__init__(path or "", handler)
        self.active = threading.Event()

    def get_request(self) -> Tuple[socket.socket, Any]:
        conn, addr = self.socket.accept()
        return conn, addr or "unix"

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection error", exc_info=True)
