"""Issue 15: with image_format = "squashfs", images made by build and commit become one squashfs file too.

The built image is converted after the build, as a pulled one is after the
pull; its steps stay the build cache's (entries and layer blobs, no layer
dirs): a rebuild takes every step from the cache without unpacking anything,
and a changed step builds on the cached ones (their layers unpacked again
from the blobs for its container, released again with the new image's).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Iterator

import pytest

from tests.integration.conftest import Engine
from tests.integration.images.test_store_crash import start_daemon
from tests.integration.test_hpc_squashfs_store import SQUASHFS, image_files, image_id, layer_dirs

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(autouse=True)
def _tools() -> None:
    for tool in ("mksquashfs", "squashfuse"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (contrib/setup-host.sh --tests)")


@pytest.fixture()
def context(fresh_engine: Engine, images: object) -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="sqfs-build-", dir="/tmp")
    with open(os.path.join(path, "Dockerfile"), "w") as f:
        f.write(f"FROM {images.layered}\nRUN echo one > /one\nCOPY f /f\nRUN cat /f /one > /both\n")  # type: ignore[attr-defined]
    with open(os.path.join(path, "f"), "w") as f:
        f.write("f1\n")
    for name in ("", "Dockerfile", "f"):
        os.chown(os.path.join(path, name), fresh_engine.user.uid, fresh_engine.user.gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _file_of(engine: Engine, image: str) -> str:
    return image_id(engine, image)[7:] + ".sqfs"


def test_built_and_committed_images_are_files_and_the_cache_still_hits(fresh_engine: Engine, images: object,
                                                                      context: str) -> None:
    layered = images.layered  # type: ignore[attr-defined]
    start_daemon(fresh_engine, SQUASHFS)
    fresh_engine.cli("pull", "-q", layered, timeout=180)
    fresh_engine.cli("build", "-t", "built:1", context, timeout=300)
    first = image_id(fresh_engine, "built:1")
    assert _file_of(fresh_engine, "built:1") in image_files(fresh_engine.root)
    assert layer_dirs(fresh_engine.root) == [], "the built image's layer dirs were released"
    assert fresh_engine.cli("run", "--rm", "built:1", "cat", "/both").stdout == "f1\none\n"
    # A rebuild: every step from the cache, the same image, nothing unpacked for it.
    again = fresh_engine.cli("build", "-t", "built:1", context, timeout=300).stdout
    assert again.count("Using cache") == 3, again
    assert image_id(fresh_engine, "built:1") == first and layer_dirs(fresh_engine.root) == []
    # A changed file: the steps before it from the cache, the new image a file as well.
    with open(os.path.join(context, "f"), "w") as f:
        f.write("f2\n")
    changed = fresh_engine.cli("build", "-t", "built:2", context, timeout=300).stdout
    assert changed.count("Using cache") == 1, changed
    assert fresh_engine.cli("run", "--rm", "built:2", "cat", "/both").stdout == "f2\none\n"
    assert _file_of(fresh_engine, "built:2") in image_files(fresh_engine.root)
    assert layer_dirs(fresh_engine.root) == []
    # commit: the container's changes on the file's squashfuse lower, the new image a file.
    fresh_engine.cli("create", "--name", "changed", "built:2", "sh", "-c", "echo x > /new")
    fresh_engine.cli("start", "-a", "changed")
    fresh_engine.cli("commit", "changed", "committed:1")
    fresh_engine.cli("rm", "changed")
    assert _file_of(fresh_engine, "committed:1") in image_files(fresh_engine.root)
    # The layers unpacked for the conversion stayed while a container used the committed image's base
    # (it may stack them); the next start releases them.
    start_daemon(fresh_engine, SQUASHFS)
    assert layer_dirs(fresh_engine.root) == []
    out = fresh_engine.cli("run", "--rm", "committed:1", "cat", "/new", "/both").stdout
    assert out == "x\nf2\none\n", out
    assert len(image_files(fresh_engine.root)) == 4  # layered, built:1, built:2, committed:1
