"""docker builder prune with the daemon SIGKILLed between the rename into the trash and the delete.

The build cache is pruned through util/trash.py: the whole cache dir is
renamed (durably) into <root>/build-cache.trash/, then deleted. Killed right
after the rename (ROOTLESS_TEST_CRASH_AT=build-cache-prune:after-trash), the
next daemon's start empties the trash and the cache is empty: the next build
runs its steps again, nothing of the old cache is hit.
"""
from __future__ import annotations

import os
from typing import List

from tests import imagebuild
from tests.integration.build.test_build import CLASSIC, build, context, write  # noqa: F401 - context: a fixture
from tests.integration.conftest import Engine
from tests.integration.images.test_store_crash import CRASH_ENV, has_exited, start_daemon

POINT = "build-cache-prune:after-trash"


def _trash(engine: Engine) -> List[str]:
    path = os.path.join(engine.root, "build-cache.trash")
    return os.listdir(path) if os.path.isdir(path) else []


def test_builder_prune_killed_after_the_rename_is_finished_by_the_next_start(
        fresh_engine: Engine, images: imagebuild.TestImages, context: str) -> None:  # noqa: F811
    start_daemon(fresh_engine, {CRASH_ENV: POINT})
    write(context, {"Dockerfile": f"FROM {images.busybox}\nRUN echo cached > /c\n"})
    build(fresh_engine, context, "-t", "cached:1")
    assert " ---> Using cache" in build(fresh_engine, context, "-t", "cached:1").stdout
    pid = fresh_engine.daemon_pid()
    result = fresh_engine.docker("builder", "prune", "-a", "-f", env=CLASSIC, check=False)
    assert result.returncode != 0 and has_exited(pid), f"the daemon did not die at {POINT}: {result.stdout}"
    assert [n[:len("build-cache-")] for n in _trash(fresh_engine)] == ["build-cache-"]
    assert not os.path.exists(os.path.join(fresh_engine.root, "build-cache"))  # gone whole from its place
    fresh_engine.cli("info")  # a new daemon without the hook
    assert _trash(fresh_engine) == []
    assert not fresh_engine.client().api.df()["BuildCache"]
    assert " ---> Running in" in build(fresh_engine, context, "-t", "cached:1").stdout
