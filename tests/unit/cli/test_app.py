"""App.client checks the runtime dir before connecting to anything in it (issue 7)."""
from __future__ import annotations

import os
import socket

import pytest

from rootless.cli.app import App
from rootless.errors import PermissionDenied


def test_client_refuses_a_runtime_dir_open_to_others_before_connecting(tmp_path, monkeypatch) -> None:
    run = tmp_path / "run"
    run.mkdir()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(run / "rootless.sock"))
    server.listen(1)
    server.setblocking(False)
    os.chmod(run, 0o777)  # anyone could have put that socket there
    monkeypatch.setenv("ROOTLESS_RUNTIME_DIR", str(run))
    monkeypatch.setenv("ROOTLESS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("ROOTLESS_HOST", raising=False)
    with server:
        with pytest.raises(PermissionDenied, match=f"^can't use runtime dir: {run}: mode 0777"):
            App(storage_root=str(tmp_path / "root")).client
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected


def test_a_daemon_that_exits_shows_its_error_with_the_hint(tmp_path):
    # Issue 15: "can't use storage root: ...: is on nfs" must reach the user, not only its hint.
    from rootless.cli.app import _log_tail

    log = tmp_path / "rootlessd.log"
    log.write_text("started\nrootlessd: can't use storage root: /nfs/x: is on nfs\nhint: unset storage_root\n")
    assert _log_tail(str(log)) == "rootlessd: can't use storage root: /nfs/x: is on nfs\nhint: unset storage_root"
    log.write_text("one\nrootlessd: boom\n")
    assert _log_tail(str(log)) == "rootlessd: boom"
