"""Daemon lifecycle: namespaces, store lock, socket, signals, shutdown.

Order matters: cgroups are detected in the host's mount namespace, then the
process joins the engine's user namespace while it is still single-threaded,
and only then takes the store lock and starts serving.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import logging
import os
import signal
import socket
import stat
import sys
import threading
from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Tuple

from rootless.config import Paths, Settings, load_settings
from rootless.config import running
from rootless.config.paths import RUN_DIR_HINT, check_run_dir, default_storage_root, host_uid
from rootless.errors import FailedPrecondition, PermissionDenied, RootlessError
from rootless.host import cgroups, placement, userns
from rootless.runtime import network, storage
from rootless.util import fs
from rootless.util.log import setup_logging

if TYPE_CHECKING:
    from rootless.daemon.idle import IdleWatch
    from rootless.daemon.listeners import Listeners, RemoteOptions, SocketWatch

logger = logging.getLogger(__name__)


def _lock_store(paths: Paths) -> fs.FileLock:
    fs.ensure_dir(paths.root)
    lock = fs.FileLock(paths.lock)
    try:
        lock.acquire(exclusive=True, blocking=False)
    except FailedPrecondition:
        busy = FailedPrecondition(f"can't lock store: {paths.root}: resource busy", hint=_holder_hint(paths))
        busy.store_busy = True  # type: ignore[attr-defined]  # main() exits with STORE_BUSY_EXIT
        raise busy from None
    return lock


def _holder_hint(paths: Paths) -> str:
    """Who holds the store: its record next to the lock says where it listens (issue 11), which
    may be another runtime dir than ours (another login style: `su -` vs ssh)."""
    other = running.find_running(paths.root)
    if other is not None:
        return f"another {running.describe(other)}"
    pid = (fs.read_json(paths.daemon_pidfile) or {}).get("pid", "?")
    return f"another rootlessd (pid {pid}) is running for this storage root"


def _lock_requested_root(paths: Paths, plan: "placement.StoragePlan") -> Optional[fs.FileLock]:
    """The store lock, taken before any namespace work, so a second daemon (from a session with
    another runtime dir) stops before it makes a pause process of its own (issue 11). Not on a
    shared filesystem: there the store moves to node-local storage, locked once placed."""
    if plan.shared:
        return None
    return _lock_store(paths)


def _record_roots(paths: Paths) -> List[str]:
    """The store's root and, when it moved off a shared filesystem (issue 15), the root asked
    for, where a CLI of another session looks first (it knows only that one)."""
    requested = (fs.read_json(paths.storage_placement) or {}).get("requested")
    return [paths.root] + ([requested] if isinstance(requested, str) and requested != paths.root else [])


def _write_record(paths: Paths) -> None:
    record = running.record_for(os.getpid(), paths.socket, paths.run)
    for root in _record_roots(paths):
        with contextlib.suppress(OSError):
            fs.atomic_write_json(running.record_path(root), record, 0o600)


def _remove_record(paths: Paths) -> None:
    """Only our own (pid and boot): a daemon that lost the lock race never wrote one, and on a
    shared root another node's daemon may have written its own since."""
    ours = running.record_for(os.getpid(), paths.socket, paths.run)
    for root in _record_roots(paths):
        path = running.record_path(root)
        with contextlib.suppress(OSError, ValueError, AttributeError):
            record = fs.read_json(path) or {}
            if (record.get("pid"), record.get("boot_id")) == (ours["pid"], ours["boot_id"]):
                os.unlink(path)


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


def _is_explicit_root(root: str) -> bool:
    """A root other than the default was asked for (--root, ROOTLESS_ROOT or storage_root)."""
    return os.path.abspath(root) != os.path.abspath(default_storage_root(os.environ))


def _place_store(paths: Paths, settings: Settings, plan: "placement.StoragePlan", mapping: "userns.Mapping"
                 ) -> Tuple[Paths, Settings]:
    """Inside the namespace (the probe chowns to a subordinate id): the root the store really uses.

    A move is logged and carried to `info` in settings.storage_note (issue 15).
    """
    chosen = placement.choose_storage(plan, mapping.single_id)
    if chosen.note:
        logger.warning("storage: %s", chosen.note)
    paths.ensure_run_dir()
    fs.atomic_write_json(paths.storage_placement, {"requested": paths.root, "root": chosen.root, "note": chosen.note},
                         0o600)
    return Paths(root=chosen.root, run=paths.run), dataclasses.replace(settings, storage_note=chosen.note)


def _approve_site_stores(settings: Settings) -> Settings:
    """additional_image_stores (issue 15): the files other users can't change, pinned for the engine."""
    if not settings.additional_image_stores:
        return settings
    from rootless.images.site_store import approve_stores

    files, warnings = approve_stores(settings.additional_image_stores)
    for warning in warnings:
        logger.warning("%s", warning)
    return dataclasses.replace(settings, site_images=[f.to_json() for f in files], site_store_warnings=warnings)


def _enter_locked(paths: Paths, settings: Settings
                  ) -> Tuple[Paths, Settings, Tuple["cgroups.CgroupInfo", "userns.Mapping", fs.FileLock]]:
    """Into the namespaces, the store placed and locked; the lock comes first where it can (issue 11)."""
    plan = placement.plan_storage(paths.root, _is_explicit_root(paths.root), os.environ, host_uid())
    early = _lock_requested_root(paths, plan)
    try:
        cgroup = cgroups.place(userns.running_pause(paths))  # v2+systemd: into a delegated scope first
        mapping = userns.enter(paths, cgroup)
        paths, settings, lock = _place_and_lock(paths, settings, plan, mapping, early)
    except BaseException:
        if early is not None:
            early.release()
        raise
    return paths, settings, (cgroup, mapping, lock)


def _place_and_lock(paths: Paths, settings: Settings, plan: "placement.StoragePlan", mapping: "userns.Mapping",
                    early: Optional[fs.FileLock]) -> Tuple[Paths, Settings, fs.FileLock]:
    """The store's real root and its lock: the early one when the store stayed where asked."""
    requested = paths.root
    paths, settings = _place_store(paths, settings, plan, mapping)
    if early is not None and paths.root == requested:
        return paths, settings, early
    if early is not None:
        early.release()
    return paths, settings, _lock_store(paths)


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
    from rootless.daemon.listeners import SocketWatch, plan_listeners, remote_options, systemd_listener
    from rootless.engine import Engine
    from rootless.engine.engine import HostSetup

    raise_fd_limit()  # issue 7: idle clients must not run the engine out of fds
    # Like dockerd (setDefaultUmask): modes in images, volumes and /etc files come from
    # the image and docker's defaults, never from the umask of the shell that started us.
    os.umask(0o022)
    remote = remote or remote_options(settings)
    plan_listeners(remote, paths.socket)  # a refused address stops us before any namespace work
    listener = systemd_listener(os.environ, os.getpid())
    settings = _approve_site_stores(settings)  # owners are only real outside the namespace
    paths, settings, (cgroup, mapping, lock) = _enter_locked(paths, settings)
    try:
        _check_runtime(paths, listener)
        host = HostSetup(
            mapping=mapping, cgroup=cgroup,
            storage_driver=storage.select_driver(settings.storage_driver, paths.tmp),
            network_backend=network.select_backend(settings.network_backend),
            runtime_binary=settings.runtime,
        )
        engine = Engine(paths, settings, host)
        server, extra = _open_servers(engine, paths, remote, listener)
        fs.atomic_write_json(paths.daemon_pidfile, {"pid": os.getpid(), "host_uid": os.environ.get("ROOTLESS_HOST_UID")}, 0o600)
        _write_record(paths)
        _install_signal_handlers(server)
        tune_gc()
        watch = SocketWatch(paths.socket, lambda: threading.Thread(target=server.shutdown, daemon=True).start())
        logger.info("rootlessd listening on %s (storage %s, driver %s, cgroups %s)",
                    paths.socket, paths.root, host.storage_driver, cgroup.mode)
        if _serve_then_close(settings, paths, engine, (server, extra), listener, watch.start()):
            _end_namespaces(paths)
    finally:
        lock.release()


# Young-generation collections every this many net allocations (CPython's default: 700).
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """The collector spends less of each request: start-up objects frozen, young collections rarer.

    A `docker run --rm` made ~2.4 young collections and 0.2 of the middle generation
    (~1 ms each, scanning every module, route and store object made at start-up;
    bench/README "The create request"). Frozen objects are never scanned again; a
    request's garbage is mostly freed by reference counts, so rarer young
    collections only delay the few cycles.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def _serve_then_close(settings: Settings, paths: Paths, engine: Any, servers: Tuple[Any, "Listeners"],
                      listener: Optional[socket.socket], watch: "SocketWatch") -> bool:
    """Serve until stopped, then close everything; True after an idle exit (issue 15)."""
    server, extra = servers
    idle = _idle_watch(settings, engine, server, extra)
    try:
        _serve_until_stopped(server, idle)
    finally:
        watch.close()
        if idle is not None:
            idle.close()
        extra.close()
        server.server_close()
        engine.close()
        if listener is None:
            watch.remove_if_ours()  # a successor's socket (systemd's, say) stays
        with contextlib.suppress(FileNotFoundError):
            os.unlink(paths.daemon_pidfile)
        _remove_record(paths)
        logger.info("rootlessd stopped")
    return idle is not None and idle.fired.is_set()


def _idle_watch(settings: Settings, engine: Any, server: Any, extra: "Listeners") -> "Optional[IdleWatch]":
    """idle_timeout > 0: stop when no container runs (or is paused) and no client is connected."""
    from rootless.daemon.idle import IdleWatch

    if settings.idle_timeout <= 0:
        return None

    servers = [server, *extra.servers]

    def is_busy() -> bool:
        if any(s.open_connections for s in servers):
            return True
        counts = engine.container_counts()
        return bool(counts.get("ContainersRunning", 0) or counts.get("ContainersPaused", 0))

    def stop() -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    watch = IdleWatch(settings.idle_timeout, is_busy, stop, activity=lambda: sum(s.accepted for s in servers))
    watch.start()
    return watch


def _serve_until_stopped(server: Any, idle: "Optional[IdleWatch]") -> None:
    """Serve until a signal, or until idle and still idle once the server stopped."""
    while True:
        server.serve_forever(poll_interval=0.5)
        if idle is None or not idle.fired.is_set() or idle.still_idle():
            return


def _end_namespaces(paths: Paths) -> None:
    """After an idle exit: the pause process (and any helper left in the namespace) goes too, so
    nothing of the user stays on a compute node. Under the namespace lock, so a CLI starting a new
    daemon meanwhile makes a fresh pause process rather than joining a dying one."""
    with fs.locked(paths.namespace_lock):
        if userns.stop_pause(paths):
            logger.info("idle exit: namespaces released")


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
        for warning in settings.warnings:
            logger.warning("%s", warning)
        paths = Paths.from_env(args.root or settings.storage_root)
        serve(paths, settings, remote_from_args(settings, args))
    except RootlessError as exc:
        print(f"rootlessd: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        # A CLI that started us waits for the daemon that holds the store instead (cli/app.py).
        sys.exit(running.STORE_BUSY_EXIT if getattr(exc, "store_busy", False) else 1)
    except KeyboardInterrupt:
        sys.exit(130)
