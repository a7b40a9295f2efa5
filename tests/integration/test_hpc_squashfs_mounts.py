"""Issue 15: a squashfs image's squashfuse mount lives while a container's rootfs stacks on it.

One mount per image file, shared by the containers made from it; when the
last of them stops or is removed it is unmounted (and at rmi), and a
container's next start mounts it again. A container starting while the last
one on the same file stops never finds its lower unmounted under it: both
take the mounts' lock. A daemon killed with an unused mount left unmounts it
at its next start.
"""
from __future__ import annotations

import concurrent.futures
import os
import time
from typing import List

import pytest

from tests.integration.conftest import Engine
from tests.integration.images.test_store_crash import start_daemon
from tests.integration.test_hpc_squashfs_store import SQUASHFS, _tools  # noqa: F401 (an autouse fixture)

pytestmark = pytest.mark.timeout(300)


def squash_mounts(engine: Engine) -> List[str]:
    """The squashfuse mount points in the engine's mount namespace."""
    base = os.path.join(engine.root, "squashfs") + "/"
    table = engine.unshare("cat", "/proc/self/mountinfo").stdout
    return sorted(line.split(" ")[4] for line in table.splitlines()
                  if " - fuse.squashfuse " in line and line.split(" ")[4].startswith(base))


def squashfuse_processes(engine: Engine) -> List[int]:
    """This engine's squashfuse helpers (their argv names the mount dir under its store)."""
    base = os.path.join(engine.root, "squashfs") + "/"
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if argv and argv[0].endswith("squashfuse") and any(a.startswith(base) for a in argv):
            found.append(int(pid))
    return found


def wait_mounts(engine: Engine, count: int, timeout: float = 15.0) -> List[str]:
    """The exit is torn down right after the process is reaped: allow the daemon a moment."""
    deadline = time.monotonic() + timeout
    while True:
        mounts = squash_mounts(engine)
        if len(mounts) == count or time.monotonic() > deadline:
            return mounts
        time.sleep(0.2)


def test_the_mount_goes_with_the_last_container_using_it(fresh_engine: Engine, images: object) -> None:
    layered = images.layered  # type: ignore[attr-defined]
    start_daemon(fresh_engine, SQUASHFS)
    fresh_engine.cli("pull", "-q", layered, timeout=180)
    assert fresh_engine.cli("run", "--rm", layered, "cat", "/data/b").stdout == "b\n"
    assert wait_mounts(fresh_engine, 0) == [], "unmounted once its one container was removed"
    one = fresh_engine.cli("run", "-d", layered, "sh", "-c", "touch /data/new; sleep 300").stdout.strip()
    two = fresh_engine.cli("run", "-d", layered, "sleep", "300").stdout.strip()
    assert len(squash_mounts(fresh_engine)) == 1, "one mount shared by both"
    assert len(squashfuse_processes(fresh_engine)) == 1
    fresh_engine.cli("stop", "-t", "0", one)
    assert len(wait_mounts(fresh_engine, 0, timeout=2)) == 1, "the other container still stacks on it"
    fresh_engine.cli("stop", "-t", "0", two)
    assert wait_mounts(fresh_engine, 0) == [], "unmounted when the last container stopped"
    deadline = time.monotonic() + 10
    while squashfuse_processes(fresh_engine) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert squashfuse_processes(fresh_engine) == [], "its helper exited"
    # diff of a stopped container compares with the image's files: its lower mounted for the read.
    diff = fresh_engine.docker("diff", one).stdout.split("\n")
    assert "C /data" in diff and "A /data/new" in diff, diff
    assert wait_mounts(fresh_engine, 0) == [], "and released after it"
    fresh_engine.cli("start", two)
    assert len(squash_mounts(fresh_engine)) == 1, "mounted again for the start"
    fresh_engine.cli("rm", "-f", one, two)
    assert wait_mounts(fresh_engine, 0) == []


def test_starts_racing_the_last_stop_always_find_their_files(fresh_engine: Engine, images: object) -> None:
    layered = images.layered  # type: ignore[attr-defined]
    start_daemon(fresh_engine, SQUASHFS)
    fresh_engine.cli("pull", "-q", layered, timeout=180)

    def run_once(_: int) -> str:
        result = fresh_engine.cli("run", "--rm", layered, "cat", "/data/b", check=False)
        return result.stdout + result.stderr
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        # Bounded, and a smoke test: the window is narrow (tests/unit/runtime/storage/test_squashfs.py
        # holds a start inside it to prove the lock).
        for _ in range(5):
            outputs = list(pool.map(run_once, range(3)))
            assert outputs == ["b\n"] * 3, outputs
    assert wait_mounts(fresh_engine, 0) == []


def test_a_mount_a_killed_daemon_left_unused_goes_at_the_next_start(fresh_engine: Engine, images: object) -> None:
    layered = images.layered  # type: ignore[attr-defined]
    start_daemon(fresh_engine, SQUASHFS)
    fresh_engine.cli("pull", "-q", layered, timeout=180)
    name = fresh_engine.cli("create", layered, "cat", "/data/b").stdout.strip()
    assert len(squash_mounts(fresh_engine)) == 1  # made for the container's rootfs, not started yet
    fresh_engine.kill_daemon()
    fresh_engine.cli("info", env=SQUASHFS)  # the next daemon, same namespace: the mount was still there
    assert squash_mounts(fresh_engine) == []
    assert fresh_engine.cli("start", "-a", name).stdout == "b\n"
    fresh_engine.cli("rm", name)
    fresh_engine.cli("rmi", layered)
    assert wait_mounts(fresh_engine, 0) == []
