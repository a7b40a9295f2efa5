"""Issue 15: the store never lands silently on a filesystem that can't hold subordinate ids; idle exit.

The stand-in for NFS/Lustre: a bindfs (FUSE) mount made by root with
--chown-deny, so chown really fails with EPERM as it does on an NFS server
for a subordinate id. It is no known shared magic (FUSE), so the daemon's
probe, not statfs, must catch it. The statfs path is unit-tested.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from typing import Iterator

import pytest

from tests.integration.conftest import Engine, TestUser, process_alive

pytestmark = pytest.mark.timeout(300)


@pytest.fixture()
def refusing_fs(user: TestUser) -> Iterator[str]:
    """A directory of the user's on a mount where chown is refused (root's bindfs)."""
    if shutil.which("bindfs") is None:
        pytest.skip("bindfs is not installed (apt-get install bindfs)")
    base = tempfile.mkdtemp(prefix="rootless-refusing-", dir="/tmp")
    source, mount = os.path.join(base, "source"), os.path.join(base, "mnt")
    os.makedirs(os.path.join(source, "home"))
    os.mkdir(mount)
    os.chown(os.path.join(source, "home"), user.uid, user.gid)
    os.chmod(base, 0o755)
    subprocess.run(["bindfs", "--chown-deny", "--chgrp-deny", "-o", "allow_other", source, mount], check=True)
    try:
        yield os.path.join(mount, "home")
    finally:
        subprocess.run(["fusermount", "-u", "-z", mount], check=False)
        shutil.rmtree(base, ignore_errors=True)


def _info(engine: Engine, **env: str) -> dict:
    return json.loads(engine.cli("info", "--format", "json", env=env).stdout)


def test_default_store_on_refusing_fs_moves_to_node_local(fresh_engine: Engine, refusing_fs: str,
                                                          images: object) -> None:
    tmpdir = os.path.join(os.path.dirname(fresh_engine.root), "tmpdir")
    os.mkdir(tmpdir, 0o700)
    os.chown(tmpdir, fresh_engine.user.uid, fresh_engine.user.gid)
    env = {"ROOTLESS_ROOT": "", "HOME": refusing_fs, "TMPDIR": tmpdir}
    info = _info(fresh_engine, **env)
    local = os.path.join(tmpdir, f"rootless-store-{fresh_engine.user.uid}")
    assert info["Rootless"]["StorageRoot"] == local
    note = info["Rootless"]["StoragePlacement"]
    assert "can't hold files owned by subordinate ids" in note and local in note, note
    assert any("storage:" in w for w in info["Warnings"])
    assert os.stat(local).st_mode & 0o777 == 0o700
    # The node-local store works: an image with files of several owners unpacks there.
    out = fresh_engine.cli("run", "--rm", images.busybox, "echo", "ran-local", env=env)  # type: ignore[attr-defined]
    assert out.stdout.strip() == "ran-local"
    assert os.listdir(os.path.join(local, "layers"))
    doctor = fresh_engine.cli("doctor", check=False, env=env).stdout
    assert f"[WARN] storage: {note} (as rootlessd decided)" in doctor, doctor
    # `unshare` looks at the store the daemon uses, not the one on the refusing filesystem.
    assert fresh_engine.cli("unshare", "sh", "-c", "echo $ROOTLESS_ROOT", env=env).stdout.strip() == local


def test_explicit_store_on_refusing_fs_is_refused_with_the_fix(fresh_engine: Engine, refusing_fs: str) -> None:
    result = fresh_engine.cli("info", check=False, env={"ROOTLESS_ROOT": os.path.join(refusing_fs, "store")})
    assert result.returncode != 0
    assert "can't use storage root" in result.stderr and "subordinate id" in result.stderr, result.stderr
    log = fresh_engine.log()
    assert "hint: unset storage_root" in log, log


def _pid(path: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        with open(path) as f:
            return int(json.load(f)["pid"])
    return 0


def _wait_gone(pids: "list[int]", seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(process_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def test_idle_daemon_exits_with_its_namespaces_but_not_while_a_container_runs(
        fresh_engine: Engine, images: object) -> None:
    env = {"ROOTLESS_IDLE_TIMEOUT": "2"}
    busybox = images.busybox  # type: ignore[attr-defined]
    name = fresh_engine.cli("run", "-d", busybox, "sleep", "1000", env=env).stdout.strip()
    daemon = _pid(os.path.join(fresh_engine.run_dir, "rootlessd.pid"))
    pause = _pid(os.path.join(fresh_engine.run_dir, "pause.pid"))
    assert daemon and pause
    time.sleep(5)  # more than twice the timeout: a running container keeps the daemon
    assert process_alive(daemon), fresh_engine.log()
    assert "after 2s" in fresh_engine.cli("info", env=env).stdout
    fresh_engine.cli("rm", "-f", name, env=env)
    assert _wait_gone([daemon, pause], 20), fresh_engine.log()
    assert not os.path.exists(fresh_engine.socket)
    assert "namespaces released" in fresh_engine.log()
    # The next command starts a fresh daemon and namespace as usual.
    assert fresh_engine.cli("run", "--rm", busybox, "echo", "again", env=env).stdout.strip() == "again"


def test_system_service_time_exits_idle_like_podman(fresh_engine: Engine) -> None:
    from tests.integration.conftest import VENV_PYTHON

    started = time.monotonic()
    proc = fresh_engine.user.popen([VENV_PYTHON, "-m", "rootless.cli", "system", "service", "--time", "2"],
                                   env=fresh_engine.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(fresh_engine.socket):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        pause = _pid(os.path.join(fresh_engine.run_dir, "pause.pid"))
        # A client now and then (each shorter than a look of the watch) keeps it up.
        for _ in range(4):
            fresh_engine.cli("version")
            time.sleep(1)
        assert proc.poll() is None
        assert proc.wait(30) == 0
        assert time.monotonic() - started >= 6
        assert _wait_gone([pause], 10)
        assert not os.path.exists(fresh_engine.socket)
    finally:
        if proc.poll() is None:
            proc.kill()
