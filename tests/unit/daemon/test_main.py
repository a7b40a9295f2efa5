"""The daemon adopts a socket-activated listener only if other users can't reach it (issue 7)."""
from __future__ import annotations

import os
import socket
from typing import Iterator

import pytest

from rootless.daemon.main import _check_listener
from rootless.errors import PermissionDenied


@pytest.fixture
def run_dir(tmp_path) -> str:
    path = str(tmp_path / "run")
    os.mkdir(path, 0o700)
    return path


@pytest.fixture
def listener(run_dir: str) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(os.path.join(run_dir, "rootless.sock"))
    sock.listen(1)
    os.chmod(os.path.join(run_dir, "rootless.sock"), 0o600)
    with sock:
        yield sock


def test_a_private_listener_is_adopted(listener: socket.socket) -> None:
    _check_listener(listener)


def test_a_listener_anyone_can_connect_to_is_refused(listener: socket.socket, run_dir: str) -> None:
    os.chmod(os.path.join(run_dir, "rootless.sock"), 0o666)  # systemd's default SocketMode
    with pytest.raises(PermissionDenied, match="mode 0666 lets other users connect") as err:
        _check_listener(listener)
    assert err.value.hint == "set SocketMode=0600 in the .socket unit"


def test_a_listener_in_a_dir_open_to_others_is_refused(listener: socket.socket, run_dir: str) -> None:
    os.chmod(run_dir, 0o755)
    with pytest.raises(PermissionDenied, match=f"^can't use runtime dir: {run_dir}: mode 0755"):
        _check_listener(listener)


def test_a_listener_without_a_path_is_refused() -> None:
    """Abstract or unnamed: no file mode keeps other users out (unbound here, to stay in the test)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        with pytest.raises(PermissionDenied, match="not a socket file"):
            _check_listener(sock)


def test_tune_gc_freezes_start_up_objects_and_makes_young_collections_rarer() -> None:
    import gc

    from rootless.daemon import main as daemon_main

    before = gc.get_threshold()
    try:
        made_at_start_up = [object() for _ in range(10)]
        daemon_main.tune_gc()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (daemon_main.GC_YOUNG_THRESHOLD, before[1], before[2])
        assert made_at_start_up
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
