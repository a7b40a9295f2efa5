"""A --rm container's rootfs is mounted right after its create, on another thread, while the
client sends attach and wait (engine/containers.py _mount_ahead; bench/README.md "Run path,
session 12"): start() then finds it mounted. Other creates are not mounted until their start.

What must hold with the mount made early: the start uses it, a removal before any start
leaves no mount behind, and a daemon restarted with a created --rm container mounted still
starts it.
"""
from __future__ import annotations

import json
import os
import time

from tests import imagebuild
from tests.integration.conftest import Engine


def _mounts(engine: Engine) -> str:
    """The daemon namespace's mount table (the pause process holds it)."""
    with open(os.path.join(engine.run_dir, "pause.pid")) as f:
        pause = int(json.load(f)["pid"])
    with open(f"/proc/{pause}/mountinfo") as f:
        return f.read()


def _merged(engine: Engine, cid: str) -> str:
    return os.path.join(engine.root, "containers", cid, "rootfs", "merged")


def _eventually(check, what: str, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _create(engine: Engine, *args: str) -> str:
    return engine.docker("create", *args).stdout.strip()


def test_a_rm_container_is_mounted_after_create_and_started_on_that_mount(
        engine: Engine, images: imagebuild.TestImages) -> None:
    cid = _create(engine, "--rm", images.busybox, "sh", "-c", "echo ran > /tmp/f; cat /tmp/f")
    _eventually(lambda: f" {_merged(engine, cid)} " in _mounts(engine), "the --rm container's rootfs not mounted")
    assert engine.docker("start", "-a", cid).stdout.strip() == "ran"
    _eventually(lambda: cid not in _mounts(engine), "a mount of the removed container is left")
    assert engine.docker("inspect", cid, check=False).returncode != 0


def test_a_plain_create_is_not_mounted_before_its_start(engine: Engine, images: imagebuild.TestImages) -> None:
    cid = _create(engine, images.busybox, "true")
    try:
        time.sleep(0.5)
        assert cid not in _mounts(engine)
    finally:
        engine.docker("rm", "-f", cid)


def test_a_rm_container_removed_before_its_start_leaves_no_mount(
        engine: Engine, images: imagebuild.TestImages) -> None:
    for _ in range(5):  # at once, while the mount may still be on its way, and after it
        cid = _create(engine, "--rm", images.busybox, "true")
        engine.docker("rm", cid)
        _eventually(lambda: cid not in _mounts(engine), "the removed container's rootfs is still mounted")
    cid = _create(engine, "--rm", images.busybox, "true")
    _eventually(lambda: f" {_merged(engine, cid)} " in _mounts(engine), "not mounted")
    engine.docker("rm", cid)
    _eventually(lambda: cid not in _mounts(engine), "the removed container's rootfs is still mounted")


def test_a_created_rm_container_mounted_ahead_starts_after_a_daemon_restart(
        fresh_engine: Engine, images: imagebuild.TestImages) -> None:
    fresh_engine.cli("info")
    fresh_engine.docker("pull", "-q", images.busybox, timeout=180)
    cid = _create(fresh_engine, "--rm", images.busybox, "echo", "after restart")
    _eventually(lambda: f" {_merged(fresh_engine, cid)} " in _mounts(fresh_engine), "not mounted")
    fresh_engine.cli("system", "stop")
    fresh_engine.cli("info")
    state = json.loads(fresh_engine.docker("inspect", cid).stdout)[0]["State"]
    assert state["Status"] == "created"
    assert fresh_engine.docker("start", "-a", cid).stdout.strip() == "after restart"
    _eventually(lambda: cid not in _mounts(fresh_engine), "a mount of the removed container is left")
