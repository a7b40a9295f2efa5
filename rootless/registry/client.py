"""A Distribution v2 registry client: resolve, fetch into a caller's writer, push.

Speaks the OCI distribution spec
(https://github.com/opencontainers/distribution-spec/blob/main/spec.md). Like
containerd's fetcher (core/remotes/docker), it never stores anything itself:
blobs stream into a ``write`` callable the caller provides, so the content
store stays the only owner of the disk, and this module stays testable against
an in-process fake (tests/fakes/registry.py).
"""
from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import (
    IO, Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, TypeVar,
)
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from rootless.errors import InvalidArgument, NotFound, Unauthorized, Unavailable
from rootless.registry.reach import unreachable, unreachable_message
from rootless.images.reference import DOCKER_HUB, Reference
from rootless.images.types import ACCEPT_MANIFESTS, SCHEMA1_TYPES, media_type_base
from rootless.registry.auth import Authenticator, CredentialsProvider, check_login
from rootless.registry.media import manifest_media_type
from rootless.registry.stall import DEFAULT_STALL_SECONDS, StallRule, describe_seconds
from rootless.util.digest import sha256_digest

logger = logging.getLogger(__name__)

# Docker Hub's API lives on another host than its name (docker's registry/config.go).
_HUB_API_HOST = "registry-1.docker.io"
# containerd caps manifests at 4 MiB (core/remotes/docker/fetcher.go); so do we.
MAX_MANIFEST_BYTES = 4 << 20
CHUNK_BYTES = 1 << 20
# What one read asks for when the transport cannot return early (urllib3 < 2 has no read1).
_FALLBACK_READ_BYTES = 64 << 10
# Blobs up to this size go in one PUT; larger ones are PATCHed then closed.
MONOLITHIC_MAX = 1 << 20
_USER_AGENT = "rootless/0.1"
_LOOPBACK_NAMES = ("localhost",)

T = TypeVar("T")
Writer = Callable[[bytes], object]  # what it returns (a file's write: a count) is unused
Progress = Callable[[int], None]


@dataclass(frozen=True)
class FetchedManifest:
    """A manifest or index as the registry served it."""

    data: bytes
    media_type: str
    digest: str

    def __iter__(self) -> Iterator[Any]:
        # Lets callers unpack it as (data, media_type, digest).
        return iter((self.data, self.media_type, self.digest))


def _host_of(registry: str) -> str:
    """The host part of "host:port" or "[v6]:port"."""
    if registry.startswith("["):
        return registry[1:].split("]", 1)[0]
    return registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry


def is_loopback(registry: str) -> bool:
    """localhost, 127.0.0.0/8 and ::1 are insecure by default, as in docker."""
    host = _host_of(registry)
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _in_insecure_list(registry: str, insecure: Sequence[str]) -> bool:
    host = _host_of(registry)
    for entry in insecure:
        if entry in (registry, host):
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _registry_errors(response: "requests.Response") -> str:
    """The code/message pairs of a registry error body, or ""."""
    try:
        errors = response.json().get("errors") or []
        return "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".lower() for e in errors)
    except (ValueError, AttributeError):
        return ""


def _raise_for_status(response: "requests.Response", what: str, ref: object,
                      not_found: Optional[str] = None) -> None:
    """Map a failed registry response to an error kind naming what failed."""
    status = response.status_code
    if status < 400:
        return
    detail = _registry_errors(response)
    if status == 401:
        raise Unauthorized(f"{what}: {ref}: unauthorized: authentication required",
                           hint=f"log in first: rootless login {getattr(ref, 'registry', ref)}")
    if status == 403:
        raise Unauthorized(f"{what}: {ref}: denied: requested access to the resource is denied")
    if status == 404:
        raise NotFound(not_found or f"{what}: {ref}: not found")
    if status == 429:
        raise Unavailable(f"{what}: {ref}: toomanyrequests: rate limited by the registry")
    kind = Unavailable if status >= 500 else InvalidArgument
    raise kind(f"{what}: {ref}: registry answered {status}" + (f": {detail}" if detail else ""))


def _with_query(url: str, params: Mapping[str, str]) -> str:
    """Add params to a URL that may carry a query already (upload Locations do)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def _push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


class RegistryClient:
    """Talks to registries; one instance is shared by the engine's worker threads."""

    def __init__(
        self,
        insecure_registries: Sequence[str] = (),
        mirrors: Optional[Mapping[str, Sequence[str]]] = None,
        credentials_provider: Optional[CredentialsProvider] = None,
        *,
        session: Optional["requests.Session"] = None,
        retries: int = 3,
        backoff: float = 0.3,
        stall_timeout: float = DEFAULT_STALL_SECONDS,
    ) -> None:
        self.insecure_registries = list(insecure_registries)
        self.mirrors = {k: list(v) for k, v in (mirrors or {}).items()}
        self.session = session or self._new_session()
        self.auth = Authenticator(self.session, credentials_provider)
        self.retries = retries
        self.backoff = backoff
        # Connect, wait for an answer, and every window of a transfer (registry/stall.py).
        self.stall_timeout = stall_timeout
        self._bases: Dict[str, str] = {}
        self._bases_lock = threading.Lock()

    @staticmethod
    def _new_session() -> "requests.Session":
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=8)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = _USER_AGENT
        return session

    def close(self) -> None:
        self.session.close()

    def _stall_rule(self, response: "requests.Response") -> StallRule:
        """The progress rule for response's body, naming the host that sends it (after redirects)."""
        return StallRule(self.stall_timeout, urlsplit(response.url).netloc or "the registry")

    # -- endpoints ---------------------------------------------------------

    def is_insecure(self, registry: str) -> bool:
        """Whether plain HTTP (and unverified TLS) is allowed for registry."""
        return is_loopback(registry) or _in_insecure_list(registry, self.insecure_registries)

    def base_url(self, registry: str) -> str:
        """https://host, or http://host for an insecure registry that does not speak TLS."""
        with self._bases_lock:
            if registry in self._bases:
                return self._bases[registry]
        if "://" in registry:  # a mirror given with its scheme
            base = registry.rstrip("/")
        elif registry == DOCKER_HUB:
            base = f"https://{_HUB_API_HOST}"
        elif not self.is_insecure(registry):
            base = f"https://{registry}"
        else:
            base = self._probe_scheme(registry)
        with self._bases_lock:
            self._bases[registry] = base
        return base

    def _probe_scheme(self, registry: str) -> str:
        # docker tries TLS first even for insecure registries and falls back to
        # plain HTTP when the handshake fails (registry/service.go, "insecure").
        try:
            with self.session.get(f"https://{registry}/v2/", verify=False, timeout=5):
                return f"https://{registry}"
        except requests.exceptions.SSLError:
            return f"http://{registry}"
        except requests.RequestException as exc:
            logger.debug("https probe of %s failed: %s", registry, exc)
            return f"http://{registry}"

    def _verify_tls(self, registry: str) -> bool:
        return not self.is_insecure(registry)

    def _read_hosts(self, registry: str) -> List[str]:
        """Where to read from: configured mirrors first, the registry itself last."""
        return self.mirrors.get(registry, []) + [registry]

    # -- requests with auth and retries --------------------------------------

    def _send(self, method: str, url: str, registry: str, **kwargs: Any) -> "requests.Response":
        """One request with retries on connection errors (never after a body was sent)."""
        attempts = self.retries if _is_replayable(kwargs.get("data")) else 1
        for attempt in range(1, attempts + 1):
            try:
                return self.session.request(
                    method, url, timeout=(self.stall_timeout, self.stall_timeout),
                    verify=self._verify_tls(registry), **kwargs)
            except requests.exceptions.SSLError as exc:
                raise Unavailable(f"connect to registry {registry}: tls: {exc}",
                                  hint=f"if it serves plain http, mark it insecure: {registry}") from exc
            except requests.Timeout as exc:
                # Not retried: a registry silent for a whole stall window is stalled (registry/stall.py).
                raise Unavailable(self._timed_out(registry, url, exc), hint=STALL_HINT) from exc
            except requests.ConnectionError as exc:
                if attempt == attempts:
                    raise unreachable(url, exc, f"connect to registry {registry}: {_reason(exc)}") from exc
                logger.debug("%s %s failed (%s), retrying", method, url, exc)
                time.sleep(self.backoff * attempt)
        raise AssertionError("unreachable")

    def _timed_out(self, registry: str, url: str, exc: Exception) -> str:
        seconds = describe_seconds(self.stall_timeout)
        if isinstance(exc, requests.ConnectTimeout):
            return unreachable_message(urlsplit(url).netloc, f"timed out after {seconds}")
        return f"registry {registry}: no answer from {urlsplit(url).netloc} for {seconds}"

    def request(self, method: str, registry: str, path: str, scopes: Sequence[str],
                **kwargs: Any) -> "requests.Response":
        """A request to registry's /v2 API that answers one 401 challenge."""
        url = path if "://" in path else self.base_url(registry) + path
        headers = dict(kwargs.pop("headers", None) or {})
        cached = self.auth.cached_header(registry, scopes)
        if cached:
            headers["Authorization"] = cached
        response = self._send(method, url, registry, headers=headers, **kwargs)
        challenge = response.headers.get("WWW-Authenticate")
        if response.status_code != 401 or not challenge or not _is_replayable(kwargs.get("data")):
            return response
        response.close()
        headers["Authorization"] = self.auth.answer(registry, scopes, challenge)
        return self._send(method, url, registry, headers=headers, **kwargs)

    def _read(self, ref: Reference, call: Callable[[str], T],
              may_retry: Callable[[], bool] = lambda: True) -> T:
        """Run call(host) against each read host (mirrors first) until one answers."""
        hosts = self._read_hosts(ref.registry)
        for host in hosts[:-1]:
            try:
                return call(host)
            except (NotFound, Unavailable, Unauthorized) as exc:
                if not may_retry():
                    raise
                logger.info("mirror %s failed for %s: %s; trying the next", host, ref, exc)
        return call(hosts[-1])

    # -- manifests -------------------------------------------------------------

    def ping(self, registry: str) -> None:
        """Check that registry speaks /v2/ (a 401 counts as an answer)."""
        with self._send("GET", self.base_url(registry) + "/v2/", registry) as response:
            if response.status_code not in (200, 401):
                _raise_for_status(response, "ping registry", registry)

    def get_manifest(self, ref: Reference) -> FetchedManifest:
        """Fetch the manifest or index ref names, verified against its digest.

        Raises NotFound ("manifest unknown"), Unauthorized, Unavailable, or
        InvalidArgument for schema1 and digest mismatches.
        """
        return self._read(ref, lambda host: self._get_manifest_from(host, ref))

    def _get_manifest_from(self, host: str, ref: Reference) -> FetchedManifest:
        path = f"/v2/{ref.repository}/manifests/{ref.reference}"
        headers = {"Accept": ", ".join(ACCEPT_MANIFESTS)}
        with self.request("GET", host, path, [_pull_scope(ref.repository)],
                          headers=headers, stream=True) as response:
            _raise_for_status(response, "get manifest", ref, not_found=f"manifest unknown: {ref}")
            data = _read_limited(response, MAX_MANIFEST_BYTES, f"manifest of {ref}",
                                 self._stall_rule(response), f"get manifest: {ref}")
            media_type = media_type_base(response.headers.get("Content-Type"))
            served_digest = response.headers.get("Docker-Content-Digest", "")
        if media_type in SCHEMA1_TYPES or b'"schemaVersion":1' in data.replace(b" ", b""):
            raise InvalidArgument(
                f"unsupported manifest: schema1: {ref}",
                hint="Docker schema 1 images are deprecated; re-push the image with a current docker or skopeo")
        digest = sha256_digest(data)
        expected = ref.digest or (served_digest if served_digest.startswith("sha256:") else "")
        if expected and digest != expected:
            raise InvalidArgument(f"get manifest: {ref}: digest mismatch: expected {expected}, got {digest}")
        return FetchedManifest(data, manifest_media_type(data, media_type, f"get manifest: {ref}"), digest)

    def put_manifest(self, ref: Reference, data: bytes, media_type: str) -> str:
        """Upload a manifest under ref's tag (or digest); return its digest."""
        digest = sha256_digest(data)
        path = f"/v2/{ref.repository}/manifests/{ref.tag or ref.digest or digest}"
        with self.request("PUT", ref.registry, path, [_push_scope(ref.repository)],
                          data=data, headers={"Content-Type": media_type}) as response:
            _raise_for_status(response, "put manifest", ref)
            served = response.headers.get("Docker-Content-Digest", digest)
        if served != digest:
            raise Unavailable(f"put manifest: {ref}: registry stored digest {served}, expected {digest}")
        return digest

    # -- blobs -------------------------------------------------------------------

    def blob_exists(self, ref: Reference, digest: str, scopes: Optional[Sequence[str]] = None) -> bool:
        """Whether ref's repository has the blob (HEAD /blobs/<digest>)."""
        path = f"/v2/{ref.repository}/blobs/{digest}"
        with self.request("HEAD", ref.registry, path, scopes or [_pull_scope(ref.repository)]) as response:
            if response.status_code == 404:
                return False
            _raise_for_status(response, f"check blob {digest}", ref)
            return True

    def fetch_blob(self, ref: Reference, descriptor: Any, write: Writer,
                   progress: Optional[Progress] = None, interrupt: Optional["Interrupt"] = None) -> None:
        """Stream blob descriptor (digest, size) of ref's repository into write.

        Hashes while streaming; resumes with a Range request when the connection
        drops. Raises Unavailable naming the blob when it is corrupt or truncated,
        stalls, or interrupt fired (then "cancelled").
        """
        fetch = _BlobFetch(self, ref, descriptor, write, progress, interrupt or Interrupt())
        # Once bytes reached the writer, another mirror cannot start over.
        self._read(ref, fetch.run, may_retry=lambda: fetch.received == 0)

    def upload_blob(self, ref: Reference, descriptor: Any, open_blob: Callable[[], IO[bytes]],
                    mount_from: Optional[str] = None, progress: Optional[Progress] = None) -> bool:
        """Make blob descriptor exist in ref's repository; True if mounted, not uploaded.

        mount_from names another repository of the same registry known to hold
        the blob (cross-repository mount, distribution spec "Mounting a blob").
        """
        scopes = [_push_scope(ref.repository)]
        params: Dict[str, str] = {}
        if mount_from and mount_from != ref.repository:
            scopes.append(_pull_scope(mount_from))
            params = {"mount": descriptor.digest, "from": mount_from}
        path = f"/v2/{ref.repository}/blobs/uploads/"
        with self.request("POST", ref.registry, path, scopes, params=params,
                          headers={"Content-Length": "0"}) as response:
            _raise_for_status(response, f"start upload of {descriptor.digest}", ref)
            if response.status_code == 201 and params:
                return True
            location = urljoin(response.url, response.headers.get("Location", ""))
        self._send_blob(ref, scopes, location, descriptor, open_blob, progress)
        return False

    def _send_blob(self, ref: Reference, scopes: Sequence[str], location: str, descriptor: Any,
                   open_blob: Callable[[], IO[bytes]], progress: Optional[Progress]) -> None:
        what = f"upload blob {descriptor.digest}"
        with open_blob() as stream:
            body = _chunks(stream, progress)
            if descriptor.size > MONOLITHIC_MAX:
                headers = {"Content-Type": "application/octet-stream"}
                with self.request("PATCH", ref.registry, location, scopes, data=body,
                                  headers=headers) as response:
                    _raise_for_status(response, what, ref)
                    location = urljoin(response.url, response.headers.get("Location", location))
                body = iter(())
            final = _with_query(location, {"digest": descriptor.digest})
            headers = {"Content-Type": "application/octet-stream"}
            with self.request("PUT", ref.registry, final, scopes, data=b"".join(body),
                              headers=headers) as response:
                _raise_for_status(response, what, ref)

    # -- login -------------------------------------------------------------------

    def check_login(self, registry: str, username: str, password: str) -> Optional[str]:
        """Verify credentials against registry; return an identity token if it issued one.

        Raises Unauthorized on refusal, Unavailable when it cannot be reached.
        """
        return check_login(self.session, self.base_url(registry) + "/v2/", registry,
                           username, password, verify=self._verify_tls(registry))


def _is_replayable(data: Any) -> bool:
    """Whether a request body can be sent again (a consumed generator cannot)."""
    return data is None or isinstance(data, (bytes, str))


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text or "ECONNREFUSED" in text:
        return "connection refused"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    # requests wraps urllib3's errors, whose str() is the repr of an args tuple:
    # ('Connection broken: IncompleteRead(...)', IncompleteRead(...)). Say the message only.
    inner: BaseException = exc
    while inner.args and isinstance(inner.args[0], BaseException):
        inner = inner.args[0]
    if inner.args and isinstance(inner.args[0], str):
        text = inner.args[0]
    return text.splitlines()[0] if text else type(exc).__name__


STALL_HINT = "the registry stopped sending; retry later, or raise pull_stall_timeout in the rootless config.toml"
# What a read that waited a whole window for one byte raises (urllib3 wraps socket.timeout).
_READ_TIMEOUTS = (urllib3.exceptions.ReadTimeoutError, requests.Timeout, socket.timeout)


def receive(response: "requests.Response", rule: StallRule, what: str, decode: bool = False) -> Iterator[bytes]:
    """response's body as it arrives, raising Unavailable("<what>: <reason>") once it stalls.

    decode: undo a Content-Encoding (manifests); blobs are read as sent, to match their digest.

    read1 returns whatever one receive brought, so the rule sees a trickle byte by
    byte; a plain read(n) would sit in the socket until n bytes came.
    """
    raw = response.raw
    read1 = getattr(raw, "read1", None)
    while True:
        try:
            if read1 is not None:
                chunk = read1(CHUNK_BYTES, decode_content=decode)
            else:
                chunk = raw.read(_FALLBACK_READ_BYTES, decode_content=decode)
        except _READ_TIMEOUTS as exc:  # the socket's read timeout is the rule's window
            silent = f"no data from {rule.source} for {describe_seconds(rule.seconds)}"
            raise Unavailable(f"{what}: {silent}", hint=STALL_HINT) from exc
        if not chunk:
            return
        rule.feed(len(chunk))
        reason = rule.stalled()
        if reason is not None:
            raise Unavailable(f"{what}: {reason}", hint=STALL_HINT)
        handed = rule.clock()
        yield chunk
        rule.exclude(rule.clock() - handed)


def _chunks(stream: IO[bytes], progress: Optional[Progress]) -> Iterable[bytes]:
    for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
        yield chunk
        if progress:
            progress(len(chunk))


def _read_limited(response: "requests.Response", limit: int, what: str, rule: StallRule,
                  context: str) -> bytes:
    data = bytearray()
    for chunk in receive(response, rule, context, decode=True):
        data += chunk
        if len(data) > limit:
            raise InvalidArgument(f"read {what}: larger than {limit} bytes")
    return bytes(data)


# What a dropped transfer raises while streaming (requests wraps some, raw urllib3 not).
_STREAM_ERRORS = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                  requests.Timeout, urllib3.exceptions.HTTPError)


class Interrupt:
    """Lets another thread stop a blob transfer, even one blocked in a receive (a cancelled pull).

    fire() shuts the transfer's socket down for reading, so the receive returns at
    once; without urllib3's shutdown() (urllib3 < 2.3) the transfer stops at its next chunk.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._response: Optional["requests.Response"] = None
        self.fired = False

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            if self._response is not None:
                _shut_down(self._response)

    @contextlib.contextmanager
    def watching(self, response: "requests.Response") -> Iterator[None]:
        """While response is read; it leaves before the connection goes back to the pool."""
        with self._lock:
            self._response = response
            if self.fired:
                _shut_down(response)
        try:
            yield
        finally:
            with self._lock:
                self._response = None


def _shut_down(response: "requests.Response") -> None:
    shutdown = getattr(response.raw, "shutdown", None)
    if shutdown is not None:
        with contextlib.suppress(Exception):  # already released or closed: nothing to stop
            shutdown()


class _BlobFetch:
    """One blob download: hash and count while streaming; resume on drops."""

    def __init__(self, client: RegistryClient, ref: Reference, descriptor: Any,
                 write: Writer, progress: Optional[Progress], interrupt: Interrupt) -> None:
        self.client, self.ref = client, ref
        self.digest, self.size = descriptor.digest, int(descriptor.size)
        self.write, self.progress = write, progress
        self.interrupt = interrupt
        self.hasher = hashlib.sha256()
        self.received = 0

    def run(self, host: str) -> None:
        for attempt in range(1, self.client.retries + 1):
            self._check_interrupt()
            try:
                self._stream_once(host)
                break
            except _STREAM_ERRORS as exc:
                self._check_interrupt()  # the drop was ours: do not resume
                if attempt == self.client.retries:
                    raise Unavailable(self._fail(f"truncated after {self.received} of "
                                                 f"{self.size} bytes: {_reason(exc)}")) from exc
                logger.info("fetch blob %s: dropped at %d bytes, resuming", self.digest, self.received)
        self._check_interrupt()
        self._verify()

    def _fail(self, reason: str) -> str:
        return f"fetch blob {self.digest}: {self.ref.name}: {reason}"

    def _check_interrupt(self) -> None:
        if self.interrupt.fired:
            raise Unavailable(self._fail("cancelled"))

    def _stream_once(self, host: str) -> None:
        path = f"/v2/{self.ref.repository}/blobs/{self.digest}"
        # identity: a Content-Encoding would make the bytes differ from the digest.
        headers = {"Accept-Encoding": "identity"}
        if self.received:
            headers["Range"] = f"bytes={self.received}-"
        with self.client.request("GET", host, path, [_pull_scope(self.ref.repository)],
                                 headers=headers, stream=True) as response:
            _raise_for_status(response, f"fetch blob {self.digest}", self.ref,
                              not_found=self._fail("blob unknown to registry"))
            # A server that ignores Range replays from 0: skip what we have.
            skip = self.received if response.status_code == 200 else 0
            rule = self.client._stall_rule(response)
            with self.interrupt.watching(response):
                for chunk in receive(response, rule, f"can't pull {self.ref}: blob {self.digest}"):
                    if skip:
                        chunk, skip = chunk[skip:], max(0, skip - len(chunk))
                    if chunk:
                        self._accept(chunk)

    def _accept(self, chunk: bytes) -> None:
        if self.received + len(chunk) > self.size:
            raise Unavailable(self._fail(f"larger than the {self.size} bytes its descriptor says"))
        self.hasher.update(chunk)
        self.write(chunk)
        self.received += len(chunk)
        if self.progress:
            self.progress(len(chunk))

    def _verify(self) -> None:
        if self.received != self.size:
            raise Unavailable(self._fail(f"truncated: got {self.received} of {self.size} bytes"),
                              hint="the registry closed the transfer early; retry the pull")
        actual = "sha256:" + self.hasher.hexdigest()
        if self.digest.startswith("sha256:") and actual != self.digest:
            raise Unavailable(self._fail(f"digest mismatch: registry sent {actual}"),
                              hint="the registry served corrupt data; retry the pull")
