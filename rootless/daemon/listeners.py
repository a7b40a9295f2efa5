"""API listeners beside the UNIX socket: TCP with mutual TLS, or plain TCP on loopback (issue 14).

The UNIX socket keeps other users out by its mode and SO_PEERCRED; a TCP port
has neither, so the client certificate is the credential: TLS 1.2 or newer,
a certificate signed by our CA required on every connection, and the
handshake finished (or refused and logged) before a byte of HTTP is read.
Plain TCP is everything the user owns for anyone who can reach the port, so
it is only taken on loopback with an explicit flag, and warned about on every
start (docker's "Protect the Docker daemon socket").
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
import stat
import threading
from dataclasses import dataclass
from typing import Any, List, MutableMapping, Optional, Sequence, Tuple

from rootless.api.http import Limits, Router, UnixApiServer
from rootless.config import Settings
from rootless.config.hosts import Host, is_loopback, parse_host
from rootless.errors import FailedPrecondition, InvalidArgument, PermissionDenied

logger = logging.getLogger(__name__)

TLS_HINT = "make them with 'rootless tls generate' or pass --tlscacert, --tlscert and --tlskey"
INSECURE_WARNING = ("API listener %s has NO authentication and NO encryption: any process on this machine "
                    "that can connect to it controls every container and file of this user")


@dataclass(frozen=True)
class RemoteOptions:
    """docker's daemon flags for extra listeners: -H, --tlsverify, --tlscacert, --tlscert, --tlskey."""

    hosts: Tuple[str, ...] = ()
    tls_verify: bool = False
    cacert: str = ""
    cert: str = ""
    key: str = ""
    insecure_tcp: bool = False


SD_LISTEN_FDS_START = 3  # sd-daemon.h: the first socket systemd passes
ACTIVATION_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
ACTIVATION_HINT = "give rootless.socket a single ListenStream= with the daemon's socket path"


def systemd_listener(environ: MutableMapping[str, str], pid: int,
                     first_fd: int = SD_LISTEN_FDS_START) -> Optional[socket.socket]:
    """The listening socket systemd passed (sd_listen_fds(3) with unset_environment), or None.

    The variables go in every case: crun, slirp4netns and the pause process must not
    believe they were activated. The fd is made close-on-exec as sd_listen_fds does:
    otherwise the pause process, forked and exec'd before the server starts, would keep
    the API socket open in the user namespace for as long as it lives.
    """
    listen_pid, count = environ.get("LISTEN_PID"), environ.get("LISTEN_FDS")
    for key in ACTIVATION_VARIABLES:
        environ.pop(key, None)
    if listen_pid != str(pid) or count in (None, "0"):
        return None  # not activated, or the variables were meant for a parent that exec'd us
    if count != "1":
        raise InvalidArgument(f"can't use socket activation: LISTEN_FDS={count!r}: the daemon serves one socket",
                              hint=ACTIVATION_HINT)
    try:
        os.set_inheritable(first_fd, False)
        sock = socket.socket(fileno=first_fd)
    except OSError as exc:
        raise InvalidArgument(f"can't use socket activation: fd {first_fd}: {exc.strerror}",
                              hint=ACTIVATION_HINT) from None
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM or not sock.getsockopt(
            socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        sock.detach()  # not ours to close: only refused
        raise InvalidArgument(f"can't use socket activation: fd {first_fd} is not a listening UNIX stream socket",
                              hint=ACTIVATION_HINT)
    return sock


Identity = Optional[Tuple[int, int]]


def socket_identity(path: str) -> Identity:
    """(device, inode) of the socket file at path, None when there is none."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


class SocketWatch:
    """Stops the daemon when its socket file is removed or replaced.

    Whoever binds the path last owns it: `systemctl --user enable --now rootless.socket`
    while a daemon the CLI started still runs, or the reverse. The daemon that lost its
    path can't be reached but holds the store lock, so every socket-activated start
    failed on the lock, systemd restarted it without end and clients waited for ever.
    """

    def __init__(self, path: str, stop: Any, interval: float = 2.0) -> None:
        self.path = path
        self.identity = socket_identity(path)
        self._stop = stop
        self._interval = interval
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="socket-watch", daemon=True)

    def start(self) -> "SocketWatch":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._closed.wait(self._interval):
            now = socket_identity(self.path)
            if now != self.identity:
                logger.warning("API socket %s was %s: stopping, the daemon can't be reached any more "
                               "(containers keep running)", self.path, "removed" if now is None else "replaced")
                self._stop()
                return

    def close(self) -> None:
        self._closed.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)

    def remove_if_ours(self) -> None:
        """At exit: unlink the socket file only if it still is ours, never a successor's."""
        if self.identity is not None and socket_identity(self.path) == self.identity:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def plan_listeners(options: RemoteOptions, unix_socket: str) -> List[Host]:
    """The TCP listeners to open; refuses every address it would not serve safely."""
    planned: List[Host] = []
    for text in options.hosts:
        host = parse_host(text, tls=options.tls_verify)
        if host.scheme == "unix":
            if os.path.abspath(host.path) != os.path.abspath(unix_socket):
                raise InvalidArgument(f"can't listen on {text}: only the daemon's own UNIX socket is served",
                                      hint=f"it is {unix_socket}; add tcp:// listeners beside it")
            continue  # the default socket: always served
        if host.scheme == "ssh":
            raise InvalidArgument(f"can't listen on {text}: ssh:// is a client address",
                                  hint="clients reach the daemon over ssh through 'rootless system dial-stdio'")
        if not options.tls_verify:
            _check_plain_tcp(text, host, options.insecure_tcp)
        planned.append(host)
    return planned


def _check_plain_tcp(text: str, host: Host, insecure: bool) -> None:
    if not is_loopback(host.host):
        raise PermissionDenied(f"can't listen on {text}: plain TCP off loopback would give this user's account "
                               "to anyone on the network", hint=f"use --tlsverify with client certificates; {TLS_HINT}")
    if not insecure:
        raise PermissionDenied(f"can't listen on {text}: plain TCP has no authentication",
                               hint="use --tlsverify, or --insecure-tcp (loopback only) if you accept the risk")


def check_key_file(path: str) -> None:
    """The server's private key: ours, and no access for group or others (as ssh insists)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise FailedPrecondition(f"can't read TLS key: {path}: {exc.strerror}", hint=TLS_HINT) from None
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.geteuid():
        raise PermissionDenied(f"can't use TLS key: {path}: owned by uid {info.st_uid}, not by this user",
                               hint="the key must be the daemon user's own file")
    if mode & 0o077:
        raise PermissionDenied(f"can't use TLS key: {path}: mode {mode:04o} lets other users read it",
                               hint=f"chmod 600 {path}")


def server_tls_context(cacert: str, cert: str, key: str) -> ssl.SSLContext:
    """Mutual TLS: TLS >= 1.2, a client certificate signed by cacert required."""
    check_key_file(key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_verify_locations(cafile=cacert)
        context.load_cert_chain(certfile=cert, keyfile=key)
    except FileNotFoundError as exc:
        raise FailedPrecondition(f"can't load TLS files: {exc.filename}: {exc.strerror}", hint=TLS_HINT) from None
    except (ssl.SSLError, OSError) as exc:
        raise FailedPrecondition(f"can't load TLS files: {cacert}, {cert}, {key}: {exc}", hint=TLS_HINT) from None
    return context


def bind_tcp(host: Host) -> socket.socket:
    """A listening TCP socket on host:port."""
    try:
        infos = socket.getaddrinfo(host.host, host.port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise InvalidArgument(f"can't listen on {host}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise FailedPrecondition(f"can't listen on {host}: {exc.strerror or exc}") from None
    return sock


class TlsApiServer(UnixApiServer):
    """The API server on a TCP listener; each connection's TLS handshake is done in its own thread."""

    def __init__(self, router: Router, listener: socket.socket, limits: Limits,
                 context: Optional[ssl.SSLContext], label: str) -> None:
        super().__init__(router, listener=listener, limits=limits)
        self.context = context
        self.label = label

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.context is None:
            super().finish_request(request, client_address)
            return
        secure = self._handshake(request, client_address)
        if secure is None:
            return
        try:
            super().finish_request(secure, client_address)
        finally:
            with contextlib.suppress(OSError):
                secure.close()

    def _handshake(self, conn: socket.socket, peer: Any) -> Optional[ssl.SSLSocket]:
        """The TLS handshake within the header deadline; None (logged) when the client is refused."""
        assert self.context is not None
        try:
            conn.settimeout(self.limits.header_timeout)
            secure = self.context.wrap_socket(conn, server_side=True)
            secure.settimeout(None)
            return secure
        except (ssl.SSLError, OSError) as exc:
            logger.warning("refused connection on %s from %s: TLS handshake failed: %s",
                           self.label, _peer_name(peer), _why(exc))
            with contextlib.suppress(OSError):
                conn.close()
            return None


def _why(exc: BaseException) -> str:
    """The most telling part of a handshake error: "certificate has expired" over CERTIFICATE_VERIFY_FAILED."""
    detail = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)
    return str(detail)


def _peer_name(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


class Listeners:
    """The extra servers, each in a thread of its own; closed with the daemon."""

    def __init__(self) -> None:
        self.servers: List[TlsApiServer] = []
        self._threads: List[threading.Thread] = []

    def start(self, server: TlsApiServer) -> None:
        self.servers.append(server)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                                  name=f"api-{server.label}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
        for server in self.servers:
            server.server_close()
        for thread in self._threads:
            thread.join(5)


def open_listeners(options: RemoteOptions, unix_socket: str, router_for: Any, limits: Limits) -> Listeners:
    """Bind and start every planned listener; on any failure none stays open."""
    planned = plan_listeners(options, unix_socket)
    context = server_tls_context(options.cacert, options.cert, options.key) if options.tls_verify and planned else None
    listeners = Listeners()
    try:
        for host in planned:
            label = f"tcp://{host.address}"
            sock = bind_tcp(host)
            listeners.start(TlsApiServer(router_for(), sock, limits, context, label))
            if context is None:
                logger.warning(INSECURE_WARNING, label)
            else:
                logger.info("rootlessd listening on %s (mutual TLS, CA %s)", label, options.cacert)
    except BaseException:
        listeners.close()
        raise
    return listeners


def remote_options(settings: Settings, hosts: Sequence[str] = (), tls_verify: Optional[bool] = None,
                   cacert: str = "", cert: str = "", key: str = "", insecure_tcp: bool = False) -> RemoteOptions:
    """Flags over config.toml, as dockerd merges its flags with daemon.json."""
    if hosts and settings.hosts:
        # dockerd refuses the same: "specified both as a flag and in the configuration file".
        raise InvalidArgument(f"hosts given both as --host and in {settings.source or 'config.toml'}",
                              hint="drop one of them")
    default_ca, default_cert, default_key = settings.tls_files()
    return RemoteOptions(
        hosts=tuple(hosts or settings.hosts),
        tls_verify=settings.tls_verify if tls_verify is None else tls_verify,
        cacert=cacert or default_ca, cert=cert or default_cert, key=key or default_key,
        insecure_tcp=insecure_tcp or settings.insecure_tcp,
    )
