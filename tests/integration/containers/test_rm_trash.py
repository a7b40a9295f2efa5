"""Container removal through the trash (engine/container_trash.py), with the daemon SIGKILLed.

`docker run --rm` is answered once the container's dir is renamed into
<root>/containers/.trash; its files are deleted after. A daemon killed right
after that rename (ROOTLESS_TEST_CRASH_AT=container-rm:after-trash) leaves the
dir there: the next daemon's start empties the trash, the container is gone
for good, nothing of it is mounted and its name and address are free.
"""
from __future__ import annotations

import json
import os
import time
from typing import List

from tests import imagebuild
from tests.integration.conftest import Engine
from tests.integration.images.test_store_crash import CRASH_ENV, has_exited, start_daemon

POINT = "container-rm:after-trash"


def _trash(engine: Engine) -> List[str]:
    path = os.path.join(engine.root, "containers", ".trash")
    return os.listdir(path) if os.path.isdir(path) else []


def _eventually_empty(engine: Engine, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while _trash(engine):
        assert time.monotonic() < deadline, f"trash not emptied: {_trash(engine)}"
        time.sleep(0.05)


def _mounts(engine: Engine) -> str:
    with open(os.path.join(engine.run_dir, "pause.pid")) as f:
        pause = int(json.load(f)["pid"])
    with open(f"/proc/{pause}/mountinfo") as f:
        return f.read()


def test_run_rm_leaves_nothing_in_the_store(fresh_engine: Engine, images: imagebuild.TestImages) -> None:
    fresh_engine.cli("info")  # starts the daemon
    fresh_engine.docker("pull", "-q", images.busybox, timeout=180)
    for _ in range(3):
        out = fresh_engine.docker("run", "--rm", images.busybox, "sh", "-c", "echo hi > /f; echo ok").stdout
        assert out.strip() == "ok"
    assert fresh_engine.docker("ps", "-aq").stdout.strip() == ""
    _eventually_empty(fresh_engine)
    assert [n for n in os.listdir(os.path.join(fresh_engine.root, "containers")) if n != ".trash"] == []


def test_rm_killed_after_the_rename_is_finished_by_the_next_start(fresh_engine: Engine,
                                                                  images: imagebuild.TestImages) -> None:
    start_daemon(fresh_engine, {CRASH_ENV: POINT})
    fresh_engine.docker("pull", "-q", images.busybox, timeout=180)
    cid = fresh_engine.docker("run", "-d", "--name", "doomed", images.busybox, "sleep", "600").stdout.strip()
    pid = fresh_engine.daemon_pid()
    result = fresh_engine.docker("rm", "-f", "doomed", check=False)
    assert result.returncode != 0 and has_exited(pid), f"the daemon did not die at {POINT}: {result.stdout}"
    assert [n.split("-")[0] for n in _trash(fresh_engine)] == [cid]  # killed between the rename and the delete
    fresh_engine.cli("info")  # a new daemon without the hook
    assert fresh_engine.docker("inspect", "doomed", check=False).returncode != 0
    _eventually_empty(fresh_engine)
    assert cid not in _mounts(fresh_engine)
    bridge = json.loads(fresh_engine.docker("network", "inspect", "bridge").stdout)[0]
    assert cid not in bridge["Containers"]
    out = fresh_engine.docker("run", "--rm", "--name", "doomed", images.busybox, "echo", "again").stdout
    assert out.strip() == "again"
