"""The object every command gets as ctx.obj: settings, paths, the API client.

The daemon is started on demand here: the first command that needs it
spawns rootlessd in the background and waits for its socket.
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import IO, Any, Optional

from rootless.client.api import APIClient
from rootless.client.endpoint import Endpoint, HostOptions, resolve
from rootless.config import Paths, Settings, load_settings
from rootless.errors import Unavailable

START_TIMEOUT = 30.0


class App:
    """Shared state for one CLI invocation."""

    def __init__(self, storage_root: Optional[str] = None, debug: bool = False,
                 host_options: Optional[HostOptions] = None) -> None:
        self.debug = debug
        self._storage_root = storage_root
        self.host_options = host_options or HostOptions()
        self._settings: Optional[Settings] = None
        self._client: Optional[APIClient] = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @property
    def paths(self) -> Paths:
        return Paths.from_env(self._storage_root or self.settings.storage_root)

    def endpoint(self) -> Endpoint:
        """-H, --context, DOCKER_HOST, DOCKER_CONTEXT, currentContext, else our own socket (issue 14)."""
        return resolve(self.host_options, os.environ, self.paths.socket)

    @property
    def client(self) -> APIClient:
        """An API client for a running daemon, starting one if needed."""
        if self._client is None:
            endpoint = self.endpoint()
            if endpoint.local:
                # Before connecting: another user may have made our runtime dir (issue 7).
                # The transport then checks the socket's peer uid as well.
                self.paths.has_run_dir()
            client = APIClient(endpoint.target)
            try:
                client.ping()
            except Unavailable:
                if not endpoint.local:
                    raise
                daemon = start_daemon(self.paths, self._storage_root, self.debug)
                wait_for_daemon(client, self.paths, daemon)
            self._client = client
        return self._client

    def warn_if_stale(self, daemon_build: str) -> None:
        """Say so when the daemon runs other code than this CLI (started before an upgrade)."""
        from rootless.util.build import build_id

        if daemon_build and daemon_build != build_id():
            sys.stderr.write("WARNING: rootlessd runs other code than this CLI (started before an upgrade?): "
                             "restart it with 'rootless system stop' (containers keep running)\n")

    def echo_json(self, obj: Any, out: IO[str] = sys.stdout) -> None:
        out.write(json.dumps(obj, indent=4) + "\n")


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
    return lines[-1] if lines else ""


def wait_for_daemon(client: APIClient, paths: Paths, daemon: Any) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            client.ping()
            return
        except Unavailable:
            if daemon.poll() is not None:
                # It may have lost the lock race to another daemon that now serves.
                time.sleep(0.05)
                try:
                    client.ping()
                    return
                except Unavailable:
                    pass
                raise Unavailable(
                    f"rootlessd exited with status {daemon.returncode}: {_log_tail(paths.daemon_log)}",
                    hint="run 'rootless doctor' to check the host",
                ) from None
            time.sleep(0.02)
    raise Unavailable(
        f"rootlessd did not start within {START_TIMEOUT:.0f}s",
        hint=f"see its log: {paths.daemon_log}; 'rootless doctor' checks the host",
    )
