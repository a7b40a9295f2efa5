"""Daemon lifecycle: namespaces, store lock, socket, signals, shutdown.

Order matters: cgroups are detected in the host's mount namespace, then the
process joins the engine's user namespace while it is still single-threaded,
and only then takes the store lock and starts serving.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import stat
import sys
import threading
from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Tuple

from rootless.config import Paths, Settings, load_settings
from rootless.config.paths import RUN_DIR_HINT, check_run_dir
from rootless.errors import FailedPrecondition, PermissionDenied, RootlessError
from rootless.host import cgroups, userns
from rootless.runtime import network, storage
from rootless.util import fs
from rootless.util.log import setup_logging

if TYPE_CHECKING:
    from rootless.daemon.listeners import Listeners, RemoteOptions

logger = logging.getLogger(__name__)

SD_LISTEN_FDS_START = 3


def _systemd_listener() -> Optional[socket.socket]:
    """The socket systemd passed us (socket activation), if any."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    if int(os.environ.get("LISTEN_FDS", "0")) < 1:
        return None
    for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(key, None)
    return socket.socket(fileno=SD_LISTEN_FDS_START)


def _lock_store(paths: Paths) -> fs.FileLock:
    fs.ensure_dir(paths.root)
    lock = fs.FileLock(paths.lock)
    try:
        lock.acquire(exclusive=True, blocking=False)
    except FailedPrecondition:
        pid = (fs.read_json(paths.daemon_pidfile) or {}).get("pid", "?")
        raise FailedPrecondition(
            f"can't lock store: {paths.root}: resource busy",
            hint=f"another rootlessd (pid {pid}) is running for this storage root",
        ) from None
    return lock


def _check_listener(listener: socket.socket) -> None:
    """Refuse a socket-activated listener another user could reach or has made.

    The server can't tell its callers apart by SO_PEERCRED: inside the
    namespace host root and every other user all appear as the overflow uid,
    and root (tests, admins) must get in. So other users are kept out by the
    socket's mode and its private directory, both checked before serving.
    """
    name = listener.getsockname()
    if not isinstance(name, str) or not name.startswith("/"):
        raise PermissionDenied(f"can't use socket-activated listener: {name!r}: not a socket file",
                               hint="any local user can connect to an abstract socket; listen on a path")
    check_run_dir(os.path.dirname(name))
    info = os.lstat(name)
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.geteuid():
        raise PermissionDenied(f"can't use socket-activated listener: {name}: not a socket of yours "
                               f"(owned by uid {info.st_uid})", hint=RUN_DIR_HINT)
    if info.st_mode & 0o022:
        raise PermissionDenied(
            f"can't use socket-activated listener: {name}: mode {stat.S_IMODE(info.st_mode):04o} "
            "lets other users connect", hint="set SocketMode=0600 in the .socket unit")


def _check_runtime(paths: Paths, listener: Optional[socket.socket]) -> None:
    """Seen from inside the namespace too: bind (or adopt) the socket only in a
    runtime dir that is ours and 0700, so other users can't reach it (issue 7)."""
    paths.ensure_run_dir()
    if listener is not None:
        _check_listener(listener)


def _remove_stale_socket(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _open_servers(engine: Any, paths: Paths, remote: "RemoteOptions", listener: Optional[socket.socket]
                  ) -> Tuple[Any, "Listeners"]:
    """The UNIX socket's server, then the extra listeners; a failure of these closes the first."""
    from rootless.api.server import build_router, limits_from, make_server
    from rootless.daemon.listeners import open_listeners

    if listener is None:
        _remove_stale_socket(paths.socket)
    server = make_server(engine, paths.socket, listener)
    try:
        extra = open_listeners(remote, paths.socket, lambda: build_router(engine), limits_from(engine.settings))
    except BaseException:
        server.server_close()
        engine.close()
        if listener is None:
            _remove_stale_socket(paths.socket)
        raise
    return server, extra


def serve(paths: Paths, settings: Settings, remote: Optional["RemoteOptions"] = None) -> None:
    """Run the daemon until SIGTERM/SIGINT."""
    from rootless.api.server import raise_fd_limit
    from rootless.daemon.listeners import plan_listeners, remote_options
    from rootless.engine import Engine
    from rootless.engine.engine import HostSetup

    raise_fd_limit()  # issue 7: idle clients must not run the engine out of fds
    # Like dockerd (setDefaultUmask): modes in images, volumes and /etc files come from
    # the image and docker's defaults, never from the umask of the shell that started us.
    os.umask(0o022)
    remote = remote or remote_options(settings)
    plan_listeners(remote, paths.socket)  # a refused address stops us before any namespace work
    listener = _systemd_listener()
    cgroup = cgroups.place(userns.running_pause(paths))  # v2+systemd: into a delegated scope first
    mapping = userns.enter(paths, cgroup)
    _check_runtime(paths, listener)
    lock = _lock_store(paths)
    try:
        host = HostSetup(
            mapping=mapping, cgroup=cgroup,
            storage_driver=storage.select_driver(settings.storage_driver, paths.tmp),
            network_backend=network.select_backend(settings.network_backend),
            runtime_binary=settings.runtime,
        )
        engine = Engine(paths, settings, host)
        server, extra = _open_servers(engine, paths, remote, listener)
        fs.atomic_write_json(paths.daemon_pidfile, {"pid": os.getpid(), "host_uid": os.environ.get("ROOTLESS_HOST_UID")}, 0o600)
        _install_signal_handlers(server)
        logger.info("rootlessd listening on %s (storage %s, driver %s, cgroups %s)",
                    paths.socket, paths.root, host.storage_driver, cgroup.mode)
        try:
            server.serve_forever(poll_interval=0.5)
        finally:
            extra.close()
            server.server_close()
            engine.close()
            if listener is None:
                _remove_stale_socket(paths.socket)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(paths.daemon_pidfile)
            logger.info("rootlessd stopped")
    finally:
        lock.release()


def _install_signal_handlers(server: "object") -> None:
    def stop(signum: int, frame: object) -> None:
        logger.info("received signal %d, shutting down", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()  # type: ignore[attr-defined]

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rootlessd", description="the rootless engine daemon")
    parser.add_argument("--root", help="storage root (default ~/.local/share/rootless)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-file", help="write the log here instead of stderr")
    add_remote_arguments(parser)
    return parser.parse_args(argv)


def add_remote_arguments(parser: argparse.ArgumentParser) -> None:
    """dockerd's listener flags (issue 14)."""
    parser.add_argument("-H", "--host", action="append", default=[], help="extra listener: tcp://ADDR:PORT")
    parser.add_argument("--tlsverify", action="store_true", default=None, help="mutual TLS on tcp:// listeners")
    parser.add_argument("--tlscacert", default="", help="CA that signs client certificates")
    parser.add_argument("--tlscert", default="", help="the server's certificate")
    parser.add_argument("--tlskey", default="", help="the server's key (mode 0600)")
    parser.add_argument("--insecure-tcp", action="store_true", help="allow plain TCP on loopback (no auth!)")


def remote_from_args(settings: Settings, args: argparse.Namespace) -> "RemoteOptions":
    return remote_from_flags(settings, args.host, args.tlsverify, args.tlscacert, args.tlscert, args.tlskey,
                             args.insecure_tcp)


def remote_from_flags(settings: Settings, hosts: Sequence[str], tls_verify: Optional[bool], cacert: str,
                      cert: str, key: str, insecure_tcp: bool) -> "RemoteOptions":
    """The listener options of rootlessd and `rootless system service` (the CLI may import only this module)."""
    from rootless.daemon.listeners import remote_options

    return remote_options(settings, hosts, tls_verify, cacert, cert, key, insecure_tcp)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    try:
        settings = load_settings()
        setup_logging(args.log_level or settings.log_level, args.log_file)
        paths = Paths.from_env(args.root or settings.storage_root)
        serve(paths, settings, remote_from_args(settings, args))
    except RootlessError as exc:
        print(f"rootlessd: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
