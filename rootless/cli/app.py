"""The object every command gets as ctx.obj: settings, paths, the API client.

The daemon is started on demand here: the first command that needs it
spawns rootlessd in the background and waits for its socket.
"""
from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import IO, Any, Callable, Optional

from rootless.errors import RootlessError, Unavailable

# Every verb imports this module, so it imports nothing a verb may not need: the client,
# the endpoint rules and the settings come in when a command first asks for them
# (bench/README.md "CLI start-up").
if TYPE_CHECKING:
    from rootless.client.api import APIClient
    from rootless.client.endpoint import Endpoint, HostOptions
    from rootless.config import Paths, Settings

START_TIMEOUT = 30.0


class App:
    """Shared state for one CLI invocation."""

    def __init__(self, storage_root: Optional[str] = None, debug: bool = False,
                 host_options: Optional[HostOptions] = None) -> None:
        self.debug = debug
        self._storage_root = storage_root
        if host_options is None:
            from rootless.client.endpoint import HostOptions

            host_options = HostOptions()
        self.host_options = host_options
        self._settings: Optional[Settings] = None
        self._client: Optional[APIClient] = None
        self._config_error_shown = False
        self.quiet = False  # shell completion: nothing may reach the terminal (cli/complete.py)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from rootless.config import load_settings

            self._settings = load_settings()
            for warning in () if self.quiet else self._settings.warnings:
                sys.stderr.write(f"WARNING: {warning}\n")
        return self._settings

    @property
    def paths(self) -> Paths:
        from rootless.config import Paths

        return Paths.from_env(self._storage_root or self.settings.storage_root)

    @property
    def run_paths(self) -> Paths:
        """Paths for what lives in the runtime dir (the socket, the daemon's log).

        The runtime dir does not depend on the storage root, so unlike .paths this
        does not read the settings file: talking to the daemon needs no config.toml.
        """
        from rootless.config import Paths

        return Paths.from_env(self._storage_root)

    def endpoint(self) -> Endpoint:
        """-H, --context, DOCKER_HOST, DOCKER_CONTEXT, currentContext, else our own socket (issue 14)."""
        from rootless.client.endpoint import resolve

        return resolve(self.host_options, os.environ, self.run_paths.socket)

    @property
    def client(self) -> APIClient:
        """An API client for a running daemon, starting one if needed."""
        if self._client is None:
            from rootless.client.api import APIClient

            endpoint = self.endpoint()
            paths = self.run_paths
            if endpoint.local:
                # Before connecting: another user may have made our runtime dir (issue 7).
                # The transport then checks the socket's peer uid as well.
                paths.has_run_dir()
            client = APIClient(endpoint.target)
            try:
                client.ping()
            except Unavailable:
                if not endpoint.local:
                    raise
                client = self._recorded_daemon() or client
                if client.socket_path == endpoint.target:
                    daemon = start_daemon(paths, self._storage_root, self.debug)
                    client = wait_for_daemon(client, paths, daemon, self._recorded_daemon)
            self._client = client
        return self._client

    def _recorded_daemon(self) -> Optional[APIClient]:
        """The user's daemon started from another login style (issue 11): `su -` has no
        XDG_RUNTIME_DIR, ssh has one, so its socket is not where this session looks. The
        record next to the store lock says where it is (config/running.py)."""
        from rootless.client.api import APIClient
        from rootless.config.running import find_running

        other = find_running(self.lenient_paths.root)
        if other is None:
            return None
        client = APIClient(other.socket)
        try:
            client.ping()
        except Unavailable:
            return None
        return client

    def daemon_paths(self) -> Paths:
        """.lenient_paths, with the runtime dir of the daemon recorded next to the store lock when
        ours has none running: it was started from another login style (issue 11)."""
        from rootless.config.running import find_running, is_alive

        paths = self.lenient_paths
        paths.has_run_dir()  # its pidfile is trusted only in a runtime dir of ours (issue 7)
        pid = _pidfile_pid(paths.daemon_pidfile)
        if pid and is_alive(pid):
            return paths
        other = find_running(paths.root)
        return paths if other is None else type(paths)(root=paths.root, run=other.run_dir)

    def config_error(self) -> Optional[RootlessError]:
        """Why config.toml can't be used, or None; the error is remembered, not shown again."""
        try:
            self.settings
        except RootlessError as exc:
            self._config_error_shown = True
            return exc
        return None

    @property
    def lenient_paths(self) -> Paths:
        """.paths, but with a broken config file reported and the defaults used: `system stop`,
        `doctor` and finding a running daemon must work when config.toml does not (issue 11)."""
        from rootless.config import Paths

        try:
            root = self._storage_root or self.settings.storage_root
        except RootlessError as exc:
            if not (self._config_error_shown or self.quiet):
                sys.stderr.write(f"WARNING: {exc.message} (ignored: using the defaults)\n")
                self._config_error_shown = True
            root = self._storage_root
        return Paths.from_env(root)

    def warn_if_stale(self, daemon_build: str) -> None:
        """Say so when the daemon runs other code than this CLI (started before an upgrade)."""
        from rootless.config.paths import cache_dir
        from rootless.util.build import build_id

        if daemon_build and daemon_build != build_id(cache_dir()):
            sys.stderr.write("WARNING: rootlessd runs other code than this CLI (started before an upgrade?): "
                             "restart it with 'rootless system stop' (containers keep running)\n")

    def echo_json(self, obj: Any, out: IO[str] = sys.stdout) -> None:
        import json

        out.write(json.dumps(obj, indent=4) + "\n")


def _pidfile_pid(path: str) -> int:
    import json

    try:
        with open(path, "rb") as f:
            data = json.load(f)
        return int(data.get("pid", 0)) if isinstance(data, dict) else 0
    except (OSError, ValueError, TypeError):
        return 0


def start_daemon(paths: Paths, storage_root: Optional[str], debug: bool) -> Any:
    """Spawn `python -m rootless.daemon` detached, logging to the runtime dir."""
    from rootless.util import proc

    paths.ensure_run_dir()
    argv = [sys.executable, "-m", "rootless.daemon", "--log-file", paths.daemon_log]
    if storage_root:
        argv += ["--root", storage_root]
    if debug:
        argv += ["--log-level", "debug"]
    with open(paths.daemon_log, "ab") as log:
        return proc.popen(argv, tool="rootlessd", stdout=log, stderr=log, start_new_session=True)


def _log_tail(path: str) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    if len(lines) >= 2 and lines[-1].startswith("hint:"):  # the daemon's error, then its fix
        return "\n".join(lines[-2:])
    return lines[-1] if lines else ""


def wait_for_daemon(client: APIClient, paths: Paths, daemon: Any,
                    recorded: Callable[[], Optional[APIClient]]) -> APIClient:
    """The client of the daemon that serves once ours started: ours, or, when ours lost the store
    lock to a daemon starting at the same time (possibly from another login style, issue 11), that one."""
    from rootless.config.running import STORE_BUSY_EXIT

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            client.ping()
            return client
        except Unavailable:
            status = daemon.poll()
            if status == STORE_BUSY_EXIT:
                winner = recorded()  # it writes its record once it serves
                if winner is not None:
                    return winner
            elif status is not None:
                raise Unavailable(
                    f"rootlessd exited with status {daemon.returncode}: {_log_tail(paths.daemon_log)}",
                    hint="run 'rootless doctor' to check the host",
                ) from None
            time.sleep(0.02)
    if daemon.poll() == STORE_BUSY_EXIT:  # the holder never served: say who it is
        raise Unavailable(f"rootlessd exited with status {daemon.returncode}: {_log_tail(paths.daemon_log)}")
    raise Unavailable(
        f"rootlessd did not start within {START_TIMEOUT:.0f}s",
        hint=f"see its log: {paths.daemon_log}; 'rootless doctor' checks the host",
    )
