"""volume rm and prune with the daemon SIGKILLed between the rename into the trash and the delete.

The volume store removes through util/trash.py: a durable rename of
<volumes>/<name> into <volumes>/.trash/, then the deletion. Killed right after
the rename (ROOTLESS_TEST_CRASH_AT=volume-rm:after-trash), the next daemon's
start empties the trash: the volume is gone for good, nothing of it is listed,
and its name is free. (test_volumes_lifecycle.py kills at a random moment of
the deletion; this kills at the exact step, every time.)
"""
from __future__ import annotations

import os
from typing import List

import pytest

from tests import imagebuild
from tests.integration.conftest import Engine
from tests.integration.images.test_store_crash import CRASH_ENV, has_exited, start_daemon

POINT = "volume-rm:after-trash"


def _volumes_dir(engine: Engine) -> str:
    return os.path.join(engine.root, "volumes")


def _trash(engine: Engine) -> List[str]:
    path = os.path.join(_volumes_dir(engine), ".trash")
    return os.listdir(path) if os.path.isdir(path) else []


def _visible(engine: Engine) -> List[str]:
    """What sits in the volumes dir besides the lock and the trash."""
    return [n for n in os.listdir(_volumes_dir(engine)) if n not in (".lock", ".trash")]


@pytest.mark.parametrize("verb", [["volume", "rm", "doomed"], ["volume", "prune", "-a", "-f"]])
def test_volume_removal_killed_after_the_rename_is_finished_by_the_next_start(
        fresh_engine: Engine, images: imagebuild.TestImages, verb: List[str]) -> None:
    start_daemon(fresh_engine, {CRASH_ENV: POINT})
    fresh_engine.docker("pull", "-q", images.busybox, timeout=180)
    fresh_engine.docker("run", "--rm", "-v", "doomed:/v", images.busybox, "sh", "-c",
                        "mkdir -p /v/a/b && echo x > /v/a/b/f && chmod 555 /v/a")
    fresh_engine.docker("volume", "create", "kept")
    pid = fresh_engine.daemon_pid()
    result = fresh_engine.docker(*verb, check=False)
    assert result.returncode != 0 and has_exited(pid), f"the daemon did not die at {POINT}: {result.stdout}"
    assert [n.split("-")[0] for n in _trash(fresh_engine)] == ["doomed"]  # renamed, not yet deleted
    assert sorted(_visible(fresh_engine)) == ["kept"]  # nothing half-deleted where it was
    fresh_engine.cli("info")  # a new daemon without the hook
    assert _trash(fresh_engine) == []
    assert fresh_engine.docker("volume", "ls", "-q").stdout.split() == ["kept"]
    assert fresh_engine.docker("volume", "inspect", "doomed", check=False).returncode != 0
    out = fresh_engine.docker("run", "--rm", "-v", "doomed:/v", images.busybox, "ls", "-A", "/v").stdout
    assert out == ""  # the name is free: a new, empty volume
