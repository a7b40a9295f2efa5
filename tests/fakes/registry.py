"""An in-process Distribution v2 registry for unit tests of rootless.registry.

Serves blobs and manifests by digest from dicts, on 127.0.0.1 in a thread,
the way containerd's resolver tests use an httptest server
(core/remotes/docker/resolver_test.go). It can require Basic or Bearer auth
(with its own token endpoint), corrupt or truncate a blob, redirect blob
downloads to another server, trickle a blob slowly or hold it back until told,
serve any Content-Type, and it records every request. Integration tests use it
too: it is a real HTTP server on 127.0.0.1 the daemon can reach.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Dict, List, Optional, Set, Tuple
from urllib.parse import parse_qs, urlsplit

from tests.fakes.server import ThreadedServer

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

_MANIFEST_RE = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
_BLOB_RE = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>sha256:[a-f0-9]{64})$")
_UPLOAD_RE = re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<upload>[^/]*)$")
_CDN_RE = re.compile(r"^/cdn/(?P<digest>sha256:[a-f0-9]{64})$")


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: Dict[str, List[str]]
    headers: Dict[str, str]


@dataclass
class FakeRegistry:
    """Configure by attributes, then use as a context manager (starts the server)."""

    auth: Optional[str] = None  # None, "basic" or "bearer"
    users: Dict[str, str] = field(default_factory=lambda: {"alice": "secret"})
    anonymous_pull: bool = False  # bearer: tokens without credentials may pull
    token_lifetime: int = 300
    honour_range: bool = True
    schema1: Set[Tuple[str, str]] = field(default_factory=set)
    corrupt: Set[str] = field(default_factory=set)
    # digest -> [bytes to send before closing, how many more times (None = always)]
    truncate: Dict[str, List[Optional[int]]] = field(default_factory=dict)
    redirect_blobs_to: Optional[str] = None  # base URL of a server with a /cdn/<digest> route
    wrong_manifest_digest: bool = False
    # digest -> (bytes sent at once, then seconds between the single bytes of the rest)
    slow: Dict[str, Tuple[int, float]] = field(default_factory=dict)
    # digests whose rest (after `slow`'s first bytes) waits until release() is called
    held: Set[str] = field(default_factory=set)
    # manifest digests answered only after release() (not even the headers before)
    hold_headers: Set[str] = field(default_factory=set)
    blobs: Dict[str, bytes] = field(default_factory=dict)
    repo_blobs: Dict[str, Set[str]] = field(default_factory=dict)
    manifests: Dict[Tuple[str, str], Tuple[bytes, str]] = field(default_factory=dict)
    uploads: Dict[str, bytearray] = field(default_factory=dict)
    tokens: Dict[str, Tuple[Set[str], float]] = field(default_factory=dict)
    requests: List[Recorded] = field(default_factory=list)
    token_requests: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._stopping = threading.Event()
        self._server = ThreadedServer()

    # -- lifecycle -------------------------------------------------------------
    def __enter__(self) -> "FakeRegistry":
        self._server.start(_make_handler(self))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()  # ends trickles, so shutdown does not wait for them
        self._server.stop()

    def release(self) -> None:
        """Send the held blobs at full speed from now on."""
        self._released.set()

    def blob_gets(self, digest: str) -> int:
        """How many times a blob's body was asked for."""
        return sum(1 for r in self.requests if r.method == "GET" and r.path.endswith(f"/blobs/{digest}"))

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    # -- content ---------------------------------------------------------------
    def add_blob(self, repository: str, data: bytes) -> str:
        digest = digest_of(data)
        with self._lock:
            self.blobs[digest] = data
            self.repo_blobs.setdefault(repository, set()).add(digest)
        return digest

    def add_manifest(self, repository: str, tag: str, data: bytes,
                     media_type: str = MT_OCI_MANIFEST) -> str:
        digest = digest_of(data)
        with self._lock:
            self.manifests[(repository, tag)] = (data, media_type)
            self.manifests[(repository, digest)] = (data, media_type)
        return digest

    def add_image(self, repository: str, tag: str, layers: List[bytes],
                  media_type: str = MT_OCI_MANIFEST) -> Tuple[str, bytes]:
        """A config + layers image; returns (manifest digest, manifest bytes)."""
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        manifest = {
            "schemaVersion": 2, "mediaType": media_type,
            "config": self._descriptor(repository, config, MT_OCI_CONFIG),
            "layers": [self._descriptor(repository, layer, MT_OCI_LAYER) for layer in layers],
        }
        data = json.dumps(manifest).encode()
        return self.add_manifest(repository, tag, data, media_type), data

    def _descriptor(self, repository: str, data: bytes, media_type: str) -> Dict[str, object]:
        return {"mediaType": media_type, "digest": self.add_blob(repository, data), "size": len(data)}

    def paths(self, method: Optional[str] = None) -> List[str]:
        return [r.path for r in self.requests if method is None or r.method == method]

    # -- auth --------------------------------------------------------------------
    def issue_token(self, scopes: Set[str]) -> str:
        token = uuid.uuid4().hex
        with self._lock:
            self.tokens[token] = (scopes, time.monotonic() + self.token_lifetime)
        return token

    def is_allowed(self, authorization: str, needed: str) -> bool:
        if self.auth is None:
            return True
        scheme, _, value = authorization.partition(" ")
        if self.auth == "basic":
            return scheme == "Basic" and _basic_user(value, self.users) is not None
        granted, expiry = self.tokens.get(value, (set(), 0.0))
        # Any valid token may ping /v2/ (needed == "").
        return scheme == "Bearer" and expiry > time.monotonic() and (not needed or needed in granted)

    def challenge(self, name: str, action: str) -> str:
        if self.auth == "basic":
            return 'Basic realm="fake registry"'
        scope = f',scope="repository:{name}:{action}"' if name else ""
        return f'Bearer realm="{self.url}/token",service="fake"{scope}'


def _basic_user(value: str, users: Dict[str, str]) -> Optional[str]:
    try:
        user, _, password = base64.b64decode(value).decode().partition(":")
    except ValueError:
        return None
    return user if users.get(user) == password else None


def _granted(scope_params: List[str], user: Optional[str], anonymous_pull: bool) -> Set[str]:
    """Expand "repository:x:pull,push" scopes into single grants."""
    grants: Set[str] = set()
    for scope in " ".join(scope_params).split():
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        for action in actions.split(","):
            if user is not None or (anonymous_pull and action == "pull"):
                grants.add(f"{kind}:{name}:{action}")
    return grants


def _make_handler(reg: FakeRegistry) -> type:
    class Handler(_Handler):
        registry = reg
    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    registry: FakeRegistry

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    # -- plumbing ----------------------------------------------------------------
    def _record(self) -> Tuple[str, Dict[str, List[str]]]:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        with self.registry._lock:
            self.registry.requests.append(
                Recorded(self.command, parts.path, query, dict(self.headers.items())))
        return parts.path, query

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, body: bytes = b"", headers: Optional[Dict[str, str]] = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, headers: Optional[Dict[str, str]] = None) -> None:
        body = json.dumps({"errors": [{"code": code, "message": code.lower().replace("_", " ")}]})
        self._reply(status, body.encode(), {"Content-Type": "application/json", **(headers or {})})

    def _authorized(self, name: str, action: str) -> bool:
        needed = f"repository:{name}:{action}" if name else ""
        if self.registry.is_allowed(self.headers.get("Authorization", ""), needed):
            return True
        # Like distribution, a push challenge asks for pull and push together.
        wanted = "pull,push" if action == "push" else action
        self._error(401, "UNAUTHORIZED", {"WWW-Authenticate": self.registry.challenge(name, wanted)})
        return False

    # -- verbs -------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_GET

    def do_POST(self) -> None:
        self._dispatch()

    do_PUT = do_PATCH = do_POST

    def _dispatch(self) -> None:
        path, query = self._record()
        reading = self.command in ("GET", "HEAD")
        routes = [
            (re.compile(r"^/token$"), self._token),
            (re.compile(r"^/v2/$"), self._ping),
            (_CDN_RE, self._cdn),
            (_UPLOAD_RE, self._upload),
            (_MANIFEST_RE, self._manifest),
            (_BLOB_RE, self._blob if reading else None),
        ]
        for pattern, handler in routes:
            match = pattern.match(path)
            if match and handler is not None:
                handler(query, **match.groupdict())
                return
        self._error(404, "NOT_FOUND")

    def _ping(self, query: Dict[str, List[str]]) -> None:
        if self._authorized("", ""):
            self._reply(200, b"{}", {"Docker-Distribution-API-Version": "registry/2.0"})

    def _token(self, query: Dict[str, List[str]]) -> None:
        reg = self.registry
        with reg._lock:
            reg.token_requests += 1
        params = query
        if self.command == "POST":
            params = parse_qs(self._body().decode())
        user = self._token_user(params)
        if user is None and (self.headers.get("Authorization") or "refresh_token" in params):
            self._error(401, "UNAUTHORIZED")
            return
        body = {"token": reg.issue_token(_granted(params.get("scope", []), user, reg.anonymous_pull)),
                "expires_in": reg.token_lifetime}
        if user is not None and (params.get("offline_token") == ["true"] or "refresh_token" in params):
            body["refresh_token"] = f"refresh-{user}"
        if self.command == "POST":
            body["access_token"] = body.pop("token")
        self._reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def _token_user(self, params: Dict[str, List[str]]) -> Optional[str]:
        refresh = params.get("refresh_token", [""])[0]
        if refresh.startswith("refresh-") and refresh[8:] in self.registry.users:
            return refresh[8:]
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        return _basic_user(value, self.registry.users) if scheme == "Basic" else None

    def _manifest(self, query: Dict[str, List[str]], name: str, ref: str) -> None:
        reg = self.registry
        if not self._authorized(name, "pull" if self.command in ("GET", "HEAD") else "push"):
            return
        if self.command == "PUT":
            data = self._body()
            digest = reg.add_manifest(name, ref, data, self.headers.get("Content-Type", ""))
            self._reply(201, b"", {"Docker-Content-Digest": digest,
                                   "Location": f"/v2/{name}/manifests/{digest}"})
            return
        if (name, ref) in reg.schema1:
            data = json.dumps({"schemaVersion": 1, "name": name, "tag": ref}).encode()
            self._reply(200, data, {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"})
            return
        if (name, ref) not in reg.manifests:
            self._error(404, "MANIFEST_UNKNOWN")
            return
        data, media_type = reg.manifests[(name, ref)]
        digest = digest_of(data + b"x") if reg.wrong_manifest_digest else digest_of(data)
        headers = {"Docker-Content-Digest": digest}
        if media_type:  # "" sends none at all
            headers["Content-Type"] = media_type
        if digest in reg.hold_headers:
            while not (reg._released.is_set() or reg._stopping.wait(0.05)):
                pass
        if digest in reg.slow and self.command == "GET":
            self._trickle(200, data, headers, digest)
            return
        self._reply(200, data, headers)

    def _blob(self, query: Dict[str, List[str]], name: str, digest: str) -> None:
        reg = self.registry
        if not self._authorized(name, "pull"):
            return
        if digest not in reg.repo_blobs.get(name, set()):
            self._error(404, "BLOB_UNKNOWN")
            return
        if reg.redirect_blobs_to and self.command == "GET":
            self._reply(307, b"", {"Location": f"{reg.redirect_blobs_to}/cdn/{digest}"})
            return
        self._send_blob(digest)

    def _cdn(self, query: Dict[str, List[str]], digest: str) -> None:
        if digest not in self.registry.blobs:
            self._error(404, "BLOB_UNKNOWN")
            return
        self._send_blob(digest)

    def _send_blob(self, digest: str) -> None:
        reg = self.registry
        data = reg.blobs[digest]
        if digest in reg.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
        status, headers = 200, {"Docker-Content-Digest": digest, "Content-Type": "application/octet-stream"}
        if match and reg.honour_range:
            start, status = int(match.group(1)), 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        cut = self._truncation(digest)
        if digest in reg.slow and self.command == "GET":
            self._trickle(status, body, headers, digest)
            return
        if cut is None or self.command == "HEAD":
            self._reply(status, body, headers)
            return
        self.close_connection = True
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:cut])

    def _trickle(self, status: int, body: bytes, headers: Dict[str, str], digest: str) -> None:
        """A registry that stalls: the first bytes at once, the rest one byte at a time."""
        reg = self.registry
        first, interval = reg.slow[digest]
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:first])
        self.wfile.flush()
        sent = first
        try:
            while sent < len(body) and not reg._stopping.is_set():
                if digest in reg.held and reg._released.is_set():
                    self.wfile.write(body[sent:])
                    return
                if interval:
                    self.wfile.write(body[sent:sent + 1])
                    self.wfile.flush()
                    sent += 1
                reg._stopping.wait(interval or 0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should
        self.close_connection = True

    def _truncation(self, digest: str) -> Optional[int]:
        with self.registry._lock:
            plan = self.registry.truncate.get(digest)
            if plan is None or plan[1] == 0:
                return None
            if plan[1] is not None:
                plan[1] -= 1
            return plan[0]

    def _upload(self, query: Dict[str, List[str]], name: str, upload: str) -> None:
        reg = self.registry
        if not self._authorized(name, "push"):
            return
        if self.command == "POST":
            self._start_upload(query, name)
            return
        if upload not in reg.uploads:
            self._error(404, "BLOB_UPLOAD_UNKNOWN")
            return
        reg.uploads[upload] += self._body()
        if self.command == "PATCH":
            self._reply(202, b"", {"Location": f"/v2/{name}/blobs/uploads/{upload}?_state=x",
                                   "Range": f"0-{len(reg.uploads[upload]) - 1}"})
            return
        self._finish_upload(name, upload, query.get("digest", [""])[0])

    def _start_upload(self, query: Dict[str, List[str]], name: str) -> None:
        reg = self.registry
        mount, source = query.get("mount", [""])[0], query.get("from", [""])[0]
        may_read = reg.is_allowed(self.headers.get("Authorization", ""), f"repository:{source}:pull")
        if mount and may_read and mount in reg.repo_blobs.get(source, set()):
            reg.repo_blobs.setdefault(name, set()).add(mount)
            self._reply(201, b"", {"Location": f"/v2/{name}/blobs/{mount}", "Docker-Content-Digest": mount})
            return
        upload = uuid.uuid4().hex
        reg.uploads[upload] = bytearray()
        self._body()
        self._reply(202, b"", {"Location": f"/v2/{name}/blobs/uploads/{upload}?_state=x"})

    def _finish_upload(self, name: str, upload: str, digest: str) -> None:
        data = bytes(self.registry.uploads.pop(upload))
        if digest_of(data) != digest:
            self._error(400, "DIGEST_INVALID")
            return
        self.registry.add_blob(name, data)
        self._reply(201, b"", {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest})
