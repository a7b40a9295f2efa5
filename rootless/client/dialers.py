"""Connections to a daemon elsewhere: tcp:// with TLS, and ssh:// (issue 14).

Each dial gives a connected stream socket, so the HTTP code and the hijacked
streams of attach and exec work unchanged over every transport. SO_PEERCRED
means nothing off this machine: over TCP the daemon's certificate, checked
against the CA, is its identity; over ssh, the host key ssh checks.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Optional

from rootless.config.hosts import Host
from rootless.errors import InvalidArgument, PermissionDenied, Unavailable

if TYPE_CHECKING:
    import ssl  # imported when used: ~10 ms that a local `rootless ps` should not pay

# What `rootless -H ssh://...` runs on the remote, as the docker CLI runs `docker system dial-stdio`.
REMOTE_DIAL_STDIO = ["rootless", "system", "dial-stdio"]
SSH_CONNECT_TIMEOUT = 30


@dataclass(frozen=True)
class TlsFiles:
    """The client's TLS material in docker's layout: ca.pem, cert.pem, key.pem."""

    ca: str
    cert: str
    key: str

    @classmethod
    def in_dir(cls, directory: str) -> "TlsFiles":
        return cls(os.path.join(directory, "ca.pem"), os.path.join(directory, "cert.pem"),
                   os.path.join(directory, "key.pem"))


def client_tls_context(files: TlsFiles) -> "ssl.SSLContext":
    """Verify the daemon against the CA (name included), present our certificate; TLS >= 1.2."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    hint = "make them with 'rootless tls generate', or set DOCKER_CERT_PATH / --tlscacert --tlscert --tlskey"
    with_cert = os.path.exists(files.cert) or os.path.exists(files.key)
    for path in (files.ca, files.cert, files.key) if with_cert else (files.ca,):
        if not os.path.exists(path):  # ssl's own error names no file
            raise InvalidArgument(f"can't load TLS files: {path}: No such file or directory", hint=hint)
    try:
        context.load_verify_locations(cafile=files.ca)
        if with_cert:
            context.load_cert_chain(certfile=files.cert, keyfile=files.key)
    except FileNotFoundError as exc:
        raise InvalidArgument(f"can't load TLS files: {exc.filename}: {exc.strerror}", hint=hint) from None
    except (ssl.SSLError, OSError) as exc:
        raise InvalidArgument(f"can't load TLS files: {files.ca}, {files.cert}, {files.key}: {exc}", hint=hint) from None
    return context


class TcpDialer:
    """tcp://: TLS unless the caller said plain TCP is wanted (loopback only, checked by the caller)."""

    def __init__(self, host: Host, context: "Optional[ssl.SSLContext]") -> None:
        self.host = host
        self.context = context
        self.label = str(host)

    def dial(self, timeout: Optional[float]) -> socket.socket:
        try:
            sock = socket.create_connection((self.host.host, self.host.port), timeout=timeout)
        except OSError as exc:
            raise Unavailable(f"can't connect to rootlessd: {self.label}: {exc.strerror or exc}") from None
        if self.context is None:
            return sock
        import ssl

        try:
            return self.context.wrap_socket(sock, server_hostname=self.host.host)
        except (ssl.SSLError, ssl.CertificateError, OSError) as exc:
            sock.close()
            raise PermissionDenied(f"can't connect to rootlessd: {self.label}: TLS handshake failed: "
                                   f"{getattr(exc, 'reason', None) or exc}",
                                   hint="check the CA and client certificate (DOCKER_CERT_PATH)") from None


class SshDialer:
    """ssh://: `ssh HOST rootless system dial-stdio`, its stdin and stdout one end of a socketpair."""

    def __init__(self, host: Host, remote_command: Optional[List[str]] = None) -> None:
        self.host = host
        self.remote_command = remote_command or REMOTE_DIAL_STDIO
        self.label = str(host)
        self._children: List[object] = []

    def argv(self) -> List[str]:
        """docker's own ssh invocation (cli/connhelper/ssh), -T: no terminal, the channel carries bytes."""
        argv = ["ssh", "-T", "-o", f"ConnectTimeout={SSH_CONNECT_TIMEOUT}"]
        if self.host.user:
            argv += ["-l", self.host.user]
        argv += ["-p", str(self.host.port), "--", self.host.host, *self.remote_command]
        return argv

    def dial(self, timeout: Optional[float]) -> socket.socket:
        from rootless.util import proc  # only ssh:// pays for importing subprocess

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # stderr is the user's terminal: ssh's own errors (host key, auth) say what went wrong.
            self._children.append(proc.popen(self.argv(), tool="ssh", stdin=theirs.fileno(), stdout=theirs.fileno(), stderr=None))
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.settimeout(timeout)
        return ours
