"""Every storage driver this host supports passes the same suite (STYLE.md §9).

The work happens inside the engine's user + mount namespace, where the daemon
mounts rootfs: storage_conformance_script.py runs there through
`rootless unshare` and prints what it saw as JSON.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Dict, Iterator

import pytest

from tests.integration.conftest import VENV_PYTHON, Engine

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "storage_conformance_script.py")
DRIVERS = ["overlay", "fuse-overlayfs", "vfs"]
LOWER_VIEW = ["d", "d/y", "file", "keep", "keep/k", "link", "owned"]


@pytest.fixture(scope="module")
def script() -> Iterator[str]:
    """A copy the test user can read wherever the checkout lives."""
    directory = tempfile.mkdtemp(prefix="rootless-storage-")
    os.chmod(directory, 0o755)
    path = os.path.join(directory, "conformance.py")
    shutil.copy(SCRIPT, path)
    os.chmod(path, 0o644)
    yield path
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module", params=DRIVERS)
def result(request: pytest.FixtureRequest, engine: Engine, script: str) -> Dict[str, Any]:
    driver = request.param
    scratch = os.path.join(engine.root, f"conformance-{driver}")
    done = engine.unshare(VENV_PYTHON, script, driver, scratch, timeout=300)
    found: Dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if found.get("skip"):
        pytest.skip(f"{driver}: {found['skip']}")
    assert found["name"] == driver
    return found


def test_merged_view_applies_whiteouts_and_opaque_dirs(result: Dict[str, Any]) -> None:
    view = result["view"]
    assert view["tree"] == LOWER_VIEW  # no "gone" (whiteout), no "d/x" (opaque d)
    assert view["file"] == "f1\n"
    assert view["link"] == "file"
    assert view["owned"] == [1000, 1000]


def test_mount_is_idempotent_and_found_again_after_restart(result: Dict[str, Any]) -> None:
    assert result["merged_path"].endswith("/rootfs/merged")
    assert result["mount_again_same"] is True
    assert result["is_mounted"] is True
    assert result["restart_is_mounted"] is True


def test_changes_land_in_upper_dir_in_overlay_format(result: Dict[str, Any]) -> None:
    assert result["upper_tree"] == ["file (whiteout)", "keep", "keep/k", "new", "newdir", "newdir/n"]
    assert result["upper_file_is_whiteout"] is True
    assert result["upper_k"] == "k2\n"
    assert result["lower_file_intact"] == "f1\n"


def test_upper_dir_becomes_an_oci_layer_and_a_diff(result: Dict[str, Any]) -> None:
    names = set(result["layer_tar"])
    assert {".wh.file", "keep/k", "new", "newdir/n"} <= names
    assert not any(n.endswith("/.wh..opq") for n in names)
    assert result["diff"] == {"/file": 2, "/keep": 0, "/keep/k": 0, "/new": 1, "/newdir": 1, "/newdir/n": 1}


def test_unmount_and_remount_keep_changes(result: Dict[str, Any]) -> None:
    assert result["kernel_mount_after_unmount"] is False
    # vfs mounts nothing: its copy stays usable until remove.
    assert result["is_mounted_after_unmount"] is (result["name"] == "vfs")
    assert result["view_after_remount"] == ["d", "d/y", "keep", "keep/k", "link", "new", "newdir",
                                            "newdir/n", "owned"]


def test_many_long_lowers_mount(result: Dict[str, Any]) -> None:
    assert result["many_total_path_len"] > 4096  # over kernel overlay's one-page option limit
    assert result["many_count"] == 60


def test_remove_cleans_everything(result: Dict[str, Any]) -> None:
    assert result["container_dir_left"] is False
