"""A --rm container's rootfs is mounted "volatile" (no syncs), others are not; it mounts again.

volatile makes the unmount at a --rm container's exit skip the sync of the
whole upper filesystem (bench/README.md "The run path, session 9"). The
kernel leaves work/work/incompat/volatile behind and refuses a later mount
with it; the driver clears it first, since nothing of a --rm container must
survive a crash anyway.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Dict, Iterator

import pytest

from tests import imagebuild
from tests.integration.conftest import VENV_PYTHON, Engine

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "overlay_volatile_script.py")


@pytest.fixture(scope="module")
def result(engine: Engine) -> Iterator[Dict[str, Any]]:
    directory = tempfile.mkdtemp(prefix="rootless-volatile-")
    os.chmod(directory, 0o755)
    script = os.path.join(directory, "volatile.py")
    shutil.copy(SCRIPT, script)
    os.chmod(script, 0o644)
    try:
        done = engine.unshare(VENV_PYTHON, script, os.path.join(engine.root, "volatile-scratch"), timeout=120)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    found: Dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if found.get("skip"):
        pytest.skip(found["skip"])
    yield found


VOLATILE = {"volatile", "fsync=volatile"}  # how kernels before and after 6.x show it


def volatile(options: str) -> bool:
    return bool(VOLATILE & set(options.split(",")))


def test_only_the_rm_containers_rootfs_is_volatile(result: Dict[str, Any]) -> None:
    assert volatile(result["rm_options"])
    assert not volatile(result["kept_options"])


def test_a_volatile_rootfs_mounts_again_after_its_unmount(result: Dict[str, Any]) -> None:
    assert result["mark_left"] is True  # what the kernel would refuse a second mount for
    assert "remount_error" not in result, result.get("remount_error")
    assert volatile(result["remount_options"])
    assert result["written_after_remount"] == "upper\n"


def test_run_rm_sees_a_volatile_root_and_run_without_rm_does_not(engine: Engine,
                                                                   images: imagebuild.TestImages) -> None:
    engine.docker("pull", "-q", images.busybox, timeout=180)
    show_root = ["sh", "-c", "grep ' / / ' /proc/self/mountinfo"]
    rm = engine.docker("run", "--rm", images.busybox, *show_root).stdout
    kept = engine.docker("run", "--name", "volatile-kept", images.busybox, *show_root).stdout
    engine.docker("rm", "volatile-kept")
    assert volatile(rm.split()[-1])
    assert not volatile(kept.split()[-1])


def test_the_empty_lower_is_made_only_for_an_image_without_layers(result: Dict[str, Any]) -> None:
    assert result["empty_dir_made"] is False  # one mkdir at mount and one unlink at removal fewer
    assert result["scratch_tree"] == []  # FROM scratch still mounts, over the empty lower
