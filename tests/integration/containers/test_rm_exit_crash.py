"""A --rm container whose daemon is SIGKILLed between the container's exit and its removal.

A --rm container's record is written at create only, not as running nor as
exited (it is removed right after: two writes fewer on every `run --rm`,
bench/README.md "The run path, session 9"). Killed between the exit and the
removal, the daemon leaves a record that says "created" next to a mount and
a monitor dir with the exit in it; the next daemon settles that as an
interrupted start, finds the exit and removes the container as the killed
one would have: no exited --rm container is left behind (before, one was,
for good), and its name and address are free.
"""
from __future__ import annotations

import json

from tests import imagebuild
from tests.integration.conftest import Engine
from tests.integration.images.test_store_crash import CRASH_ENV, has_exited, start_daemon

POINT = "container-exit:before-remove"


def test_rm_container_killed_before_its_removal_is_removed_by_the_next_start(
        fresh_engine: Engine, images: imagebuild.TestImages) -> None:
    start_daemon(fresh_engine, {CRASH_ENV: POINT})
    fresh_engine.docker("pull", "-q", images.busybox, timeout=180)
    pid = fresh_engine.daemon_pid()
    result = fresh_engine.docker("run", "--rm", "--name", "short", images.busybox, "true", check=False)
    assert has_exited(pid), f"the daemon did not die at {POINT}: {result.stdout} {result.stderr}"
    fresh_engine.cli("info")  # a new daemon without the hook
    assert fresh_engine.docker("ps", "-aq").stdout.strip() == ""
    assert fresh_engine.docker("inspect", "short", check=False).returncode != 0
    bridge = json.loads(fresh_engine.docker("network", "inspect", "bridge").stdout)[0]
    assert bridge["Containers"] == {}
    out = fresh_engine.docker("run", "--rm", "--name", "short", images.busybox, "echo", "again").stdout
    assert out.strip() == "again"
