"""Which daemon a command talks to, decided as the docker CLI decides it (issue 14).

Order (docker/cli cli/command/cli.go resolveContextName): -H/--host, then
--context, then DOCKER_HOST (ROOTLESS_HOST first), then DOCKER_CONTEXT, then currentContext of
~/.docker/config.json, then the local daemon. TLS for tcp:// comes from
--tlsverify/DOCKER_TLS_VERIFY with files from the flags, DOCKER_CERT_PATH or
~/.docker, or from a context's own TLS files.
"""
from __future__ import annotations

import os

from rootless.util.record import Record

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)

# The dialers (ssl, ssh), the context store and the host parser are imported where
# they are used: most commands talk to the local socket and need none of them
# (bench/README.md "CLI start-up"; tests/unit/cli/test_startup_imports.py). So is rootless.errors
# (~0.3 ms), where an error is raised: the fast path's `ps` never needs it (cli/fast.py).
if TYPE_CHECKING:
    from typing import Mapping, Optional, Tuple

    from rootless.client.dialers import TlsFiles
    from rootless.client.transport import Target
    from rootless.config.contexts import ContextStore
    from rootless.config.hosts import Host


# Records (util/record.py), not NamedTuples or frozen dataclasses: every CLI start creates
# these classes, and those need typing or dataclasses (bench/README.md "CLI fast path").
class HostOptions(Record):
    """The CLI's global connection flags."""

    hosts: Tuple[str, ...]
    context: str
    tls: bool
    tls_verify: bool
    tls_cacert: str
    tls_cert: str
    tls_key: str
    insecure_tcp: bool

    def __init__(self, hosts: Tuple[str, ...] = (), context: str = "", tls: bool = False, tls_verify: bool = False,
                 tls_cacert: str = "", tls_cert: str = "", tls_key: str = "", insecure_tcp: bool = False) -> None:
        self._set(hosts=hosts, context=context, tls=tls, tls_verify=tls_verify, tls_cacert=tls_cacert,
                  tls_cert=tls_cert, tls_key=tls_key, insecure_tcp=insecure_tcp)


class Endpoint(Record):
    """Where to connect; `local` is the user's own daemon, which the CLI starts on demand."""

    target: Target
    label: str
    local: bool
    explicit: bool  # a UNIX socket the user named: never start a daemon for it

    def __init__(self, target: Target, label: str, local: bool = False, explicit: bool = False) -> None:
        self._set(target=target, label=label, local=local, explicit=explicit)


def resolve(options: HostOptions, env: Mapping[str, str], local_socket: str) -> Endpoint:
    """The endpoint for this invocation; InvalidArgument/PermissionDenied when it can't be used safely."""
    if (options.hosts and options.context) or len(options.hosts) > 1:
        from rootless.errors import InvalidArgument

        raise InvalidArgument("conflicting options: either specify --host or --context, not both"
                              if options.context else "specify only one -H")
    host_text = options.hosts[0] if options.hosts else ""
    # ROOTLESS_HOST: this project's own DOCKER_HOST, winning over it (one shell can drive both engines).
    env_host = env.get("ROOTLESS_HOST") or env.get("DOCKER_HOST") or ""
    name = options.context or ("" if host_text or env_host else env.get("DOCKER_CONTEXT", ""))
    if name or not (host_text or env_host):
        from rootless.config.contexts import DEFAULT, ContextStore

        store = ContextStore(env)
        if not name:
            name = store.current()
        if name != DEFAULT:
            return _context_endpoint(store, name, options, local_socket)
    host_text = host_text or env_host
    if not host_text:
        return Endpoint(local_socket, f"unix://{local_socket}", local=True)
    from rootless.config.hosts import parse_host

    verify = options.tls_verify or bool(env.get("DOCKER_TLS_VERIFY"))
    if options.tls and not verify:
        from rootless.errors import PermissionDenied

        raise PermissionDenied("--tls without --tlsverify would not check the daemon's certificate",
                               hint="use --tlsverify")
    return _endpoint(parse_host(host_text, tls=verify), _tls_files(options, env) if verify else None,
                     options, local_socket)


def _context_endpoint(store: "ContextStore", name: str, options: HostOptions, local_socket: str) -> Endpoint:
    """A stored context's endpoint, with its own TLS files."""
    from rootless.client.dialers import TlsFiles
    from rootless.config.hosts import parse_host

    context = store.get(name)
    files = TlsFiles.in_dir(context.tls_dir) if context.tls_dir else None
    if files and context.skip_tls_verify:
        from rootless.errors import PermissionDenied

        raise PermissionDenied(f"context {name}: SkipTLSVerify is set: the daemon's certificate would not "
                               "be checked", hint="recreate the context with skip-tls-verify=false")
    return _endpoint(parse_host(context.host, tls=files is not None), files, options, local_socket)


def _tls_files(options: HostOptions, env: Mapping[str, str]) -> TlsFiles:
    """--tlscacert/--tlscert/--tlskey over $DOCKER_CERT_PATH over ~/.docker, file by file as docker does."""
    from rootless.client.dialers import TlsFiles
    from rootless.config.paths import docker_config_dir

    base = TlsFiles.in_dir(env.get("DOCKER_CERT_PATH") or docker_config_dir(env))
    return TlsFiles(options.tls_cacert or base.ca, options.tls_cert or base.cert, options.tls_key or base.key)


def _endpoint(host: Host, files: Optional[TlsFiles], options: HostOptions, local_socket: str) -> Endpoint:
    if host.scheme == "unix":
        local = os.path.abspath(host.path) == os.path.abspath(local_socket)
        return Endpoint(host.path, str(host), local=local, explicit=not local)
    from rootless.client.dialers import SshDialer, TcpDialer, client_tls_context
    from rootless.config.hosts import is_loopback
    from rootless.errors import PermissionDenied

    if host.scheme == "ssh":
        return Endpoint(SshDialer(host), str(host))
    if files is not None:
        return Endpoint(TcpDialer(host, client_tls_context(files)), str(host))
    if not options.insecure_tcp:
        raise PermissionDenied(f"can't connect to {host}: plain TCP: anyone could pose as the daemon or read "
                               "the traffic", hint="use --tlsverify (or DOCKER_TLS_VERIFY=1) with client "
                               "certificates; --insecure-tcp allows plain TCP to a loopback address")
    if not is_loopback(host.host):
        raise PermissionDenied(f"can't connect to {host}: plain TCP is only allowed to a loopback address",
                               hint="use --tlsverify with client certificates")
    return Endpoint(TcpDialer(host, None), str(host))
