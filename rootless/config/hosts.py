"""Docker's host addresses (`-H`, DOCKER_HOST, `hosts = [...]`): unix://, tcp://, ssh://.

Parsed in one place for the daemon's listeners and the client's transports, with
docker's defaults: tcp:// without a port is 2376 under TLS and 2375 without
(docker/cli opts/hosts.go), ssh:// is port 22.
"""
from __future__ import annotations

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Optional

    from rootless.errors import InvalidArgument

from rootless.util.record import Record

DEFAULT_TLS_PORT = 2376
DEFAULT_TCP_PORT = 2375
HOST_HINT = "use unix:///path/to.sock, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]"


class Host(Record):
    """One parsed address; only the fields of its scheme are set."""

    scheme: str  # "unix", "tcp" or "ssh"
    path: str  # unix
    host: str  # tcp, ssh
    port: int
    user: str  # ssh

    def __init__(self, scheme: str, path: str = "", host: str = "", port: int = 0, user: str = "") -> None:
        self._set(scheme=scheme, path=path, host=host, port=port, user=user)

    @property
    def address(self) -> str:
        """host:port, IPv6 in brackets, as a URL carries it."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        user = f"{self.user}@" if self.user else ""
        return f"{self.scheme}://{user}{self.address}"


def parse_host(text: str, tls: bool = True) -> Host:
    """A host address; InvalidArgument naming it when it is not one docker would take."""
    value = text.strip()
    scheme, sep, rest = value.partition("://")
    if not sep:
        raise _invalid(text, "no scheme")
    if scheme == "unix":
        if not rest.startswith("/"):
            raise _invalid(text, "the socket path must be absolute")
        return Host("unix", path=rest)
    if scheme not in ("tcp", "ssh"):
        raise _invalid(text, f"unsupported scheme {scheme!r}")
    return _parse_network(text, scheme, rest, tls)


def _invalid(text: str, reason: str, hint: str = HOST_HINT) -> InvalidArgument:
    """The error for an address docker would not take. rootless.errors loads only then: a unix://
    DOCKER_HOST, which every local command parses, needs none of it (~0.2 ms, cli/fast.py)."""
    from rootless.errors import InvalidArgument

    return InvalidArgument(f"invalid host: {text!r}: {reason}", hint=hint)


def _parse_network(text: str, scheme: str, rest: str, tls: bool) -> Host:
    # Here, not at the top: unix:// (every local command) needs neither (~2 ms with ipaddress).
    import urllib.parse

    parsed = urllib.parse.urlsplit(f"{scheme}://{rest}")
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
        raise _invalid(text, "a path, query or fragment is not supported")
    try:
        port = parsed.port
    except ValueError:
        raise _invalid(text, "bad port") from None
    if not parsed.hostname:
        raise _invalid(text, "no host name")
    if parsed.password is not None or (scheme == "tcp" and parsed.username):
        raise _invalid(text, "credentials in the address are not supported",
                       hint="use TLS client certificates (tcp://) or ssh keys (ssh://)")
    if port is None:
        port = 22 if scheme == "ssh" else (DEFAULT_TLS_PORT if tls else DEFAULT_TCP_PORT)
    return Host(scheme, host=parsed.hostname, port=port, user=parsed.username or "")


def is_loopback(name: str) -> bool:
    """Whether an address is certainly on this machine: a loopback IP or "localhost"."""
    if name == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def default_docker_host(env_host: Optional[str]) -> Optional[str]:
    """DOCKER_HOST as docker reads it: unset and empty mean "no override"."""
    return env_host.strip() if env_host and env_host.strip() else None
