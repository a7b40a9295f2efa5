"""Issue 11: the daemon's record next to the store lock, trusted only when nobody else could have written it."""
from __future__ import annotations

import json
import os
import socket
from typing import Iterator, Tuple

import pytest

from rootless.config import running


@pytest.fixture
def store(tmp_path) -> Iterator[Tuple[str, str]]:  # type: ignore[no-untyped-def]
    root, run = tmp_path / "root", tmp_path / "run"
    root.mkdir(mode=0o700)
    run.mkdir(mode=0o700)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(run / "rootless.sock"))
    yield str(root), str(run)
    listener.close()


def _write(root: str, record: dict, mode: int = 0o600) -> str:  # type: ignore[type-arg]
    path = running.record_path(root)
    with open(path, "w") as f:
        json.dump(record, f)
    os.chmod(path, mode)
    return path


def test_a_record_of_ours_names_the_running_daemon(store) -> None:  # type: ignore[no-untyped-def]
    root, run = store
    _write(root, running.record_for(os.getpid(), os.path.join(run, "rootless.sock"), run))
    found = running.find_running(root)
    assert found == running.RunningDaemon(os.getpid(), os.path.join(run, "rootless.sock"), run)
    assert f"export DOCKER_HOST=unix://{run}/rootless.sock" in running.describe(found)


@pytest.mark.parametrize("spoil", ["other_owner", "mode", "symlink", "dead_pid", "other_boot", "socket_elsewhere",
                                   "open_run_dir", "open_root", "garbage"])
def test_a_record_anyone_else_could_have_written_or_a_stale_one_is_ignored(store, tmp_path, spoil) -> None:  # type: ignore[no-untyped-def]
    root, run = store
    record = running.record_for(os.getpid(), os.path.join(run, "rootless.sock"), run)
    euid = os.geteuid()
    if spoil == "other_owner":
        euid += 4242  # the file and dirs are not this user's
    elif spoil == "dead_pid":
        record["pid"] = 2 ** 22 + 1  # above pid_max's default
    elif spoil == "other_boot":
        record["boot_id"] = "an-earlier-boot"
    elif spoil == "socket_elsewhere":
        record["socket"] = "/tmp/rootless.sock"
    elif spoil == "open_run_dir":
        os.chmod(run, 0o755)
    elif spoil == "open_root":
        os.chmod(root, 0o777)
    path = _write(root, record, 0o644 if spoil == "mode" else 0o600)
    if spoil == "symlink":
        elsewhere = tmp_path / "elsewhere.json"
        os.rename(path, elsewhere)
        os.symlink(elsewhere, path)
    elif spoil == "garbage":
        with open(path, "w") as f:
            f.write("[1, 2")
    assert running.find_running(root, euid) is None


def test_no_record_no_daemon(store) -> None:  # type: ignore[no-untyped-def]
    root, _ = store
    assert running.find_running(root) is None
