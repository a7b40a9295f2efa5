"""A create SIGKILLed before the container's first record is rolled back by the next start.

The daemon killed at ROOTLESS_TEST_CRASH_AT=container-create:after-connect has
made the container's dir and rootfs but no record: no load finds it. Before,
the dir stayed in <root>/containers for good; now the start moves it into the
trash (engine/container_trash.py, empty_at_start) and deletes it.
"""
from __future__ import annotations

import os
import time
from typing import List

from tests import imagebuild
from tests.integration.conftest import Engine
from tests.integration.images.test_store_crash import CRASH_ENV, has_exited, start_daemon

POINT = "container-create:after-connect"


def _left(containers: str) -> List[str]:
    """Container dirs and trash entries: a store with no container has neither."""
    trash = os.path.join(containers, ".trash")
    return ([n for n in os.listdir(containers) if n != ".trash"]
            + (os.listdir(trash) if os.path.isdir(trash) else []))


def test_create_killed_before_its_record_leaves_no_dir_after_the_next_start(
        fresh_engine: Engine, images: imagebuild.TestImages) -> None:
    start_daemon(fresh_engine, {CRASH_ENV: POINT})
    fresh_engine.docker("pull", "-q", images.busybox, timeout=180)
    pid = fresh_engine.daemon_pid()
    result = fresh_engine.docker("create", "--name", "half", images.busybox, "true", check=False)
    assert result.returncode != 0 and has_exited(pid), f"the daemon did not die at {POINT}: {result.stdout}"
    containers = os.path.join(fresh_engine.root, "containers")
    assert _left(containers) != []  # the dir without a record
    fresh_engine.cli("info")  # a new daemon without the hook
    deadline = time.monotonic() + 20
    while _left(containers):
        assert time.monotonic() < deadline, f"left in the containers dir: {_left(containers)}"
        time.sleep(0.05)
    assert fresh_engine.docker("create", "--name", "half", images.busybox, "true").returncode == 0
