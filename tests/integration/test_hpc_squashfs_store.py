"""Issue 15: image_format = "squashfs" keeps each of the user's images as one squashfs file.

A pull leaves one <image id>.sqfs in <root>/squashfs-images and no unpacked
layer dirs; containers run from it through squashfuse; the image stays the
user's (tag, save, rmi); a daemon SIGKILLed at each step of the conversion
leaves the old form or the new one, which the next start settles.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Dict, List

import pytest

from tests import imagebuild
from tests.integration.conftest import Engine
from tests.integration.images.test_store_crash import CRASH_ENV, NOTHING, has_exited, leftovers, start_daemon

pytestmark = pytest.mark.timeout(300)
SQUASHFS = {"ROOTLESS_IMAGE_FORMAT": "squashfs"}


@pytest.fixture(autouse=True)
def _tools() -> None:
    for tool in ("mksquashfs", "squashfuse"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (contrib/setup-host.sh --tests)")


def image_files(root: str) -> List[str]:
    directory = os.path.join(root, "squashfs-images")
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def layer_dirs(root: str) -> List[str]:
    return [n for n in os.listdir(os.path.join(root, "layers")) if len(n) == 64]


def image_id(engine: Engine, image: str) -> str:
    return str(engine.cli("image", "inspect", "--format", "{{.Id}}", image).stdout.strip())


def check_runs(engine: Engine, image: str) -> None:
    listing = engine.cli("run", "--rm", image, "ls", "/data", "/opq").stdout.split()
    assert listing == ["/data:", "a-link", "b", "/opq:", "z"], listing
    owners = engine.cli("run", "--rm", image, "stat", "-c", "%u:%g", "/bin/busybox", "/owned").stdout.split()
    assert owners == ["0:0", "1000:1000"], owners


def test_pull_keeps_one_file_that_runs_and_rmi_removes(fresh_engine: Engine,
                                                      images: imagebuild.TestImages) -> None:
    image = images.layered
    start_daemon(fresh_engine, SQUASHFS)
    fresh_engine.cli("pull", "-q", image, timeout=180)
    assert image_files(fresh_engine.root) == [image_id(fresh_engine, image)[7:] + ".sqfs"]
    assert layer_dirs(fresh_engine.root) == [], "the unpacked layer dirs were released"
    check_runs(fresh_engine, image)
    assert "Image is up to date" in fresh_engine.cli("pull", image).stdout
    assert layer_dirs(fresh_engine.root) == []
    # Still the user's image: tagged and saved from its blobs, keep-id runs it from the file too.
    fresh_engine.cli("tag", image, "mine:1")
    out_dir = tempfile.mkdtemp(prefix="rootless-save-", dir="/tmp")
    os.chown(out_dir, fresh_engine.user.uid, fresh_engine.user.gid)
    saved = os.path.join(out_dir, "saved.tar")
    fresh_engine.cli("save", "-o", saved, "mine:1")
    assert os.path.getsize(saved) > 100_000
    shutil.rmtree(out_dir)
    kept = fresh_engine.cli("run", "--rm", "--userns", "keep-id", "mine:1", "cat", "/data/b")
    assert kept.stdout == "b\n"
    # A container's changes on the squashfuse lower are committed onto the image's blobs.
    fresh_engine.cli("create", "--name", "changed", image, "sh", "-c", "echo x > /data/new; rm /data/b")
    fresh_engine.cli("start", "-a", "changed")
    fresh_engine.cli("commit", "changed", "committed:1")
    fresh_engine.cli("rm", "changed")
    assert fresh_engine.cli("run", "--rm", "committed:1", "ls", "/data").stdout.split() == ["a-link", "new"]
    fresh_engine.cli("rmi", "committed:1")
    fresh_engine.cli("rmi", image, "mine:1")
    assert image_files(fresh_engine.root) == []
    mounts = os.path.join(fresh_engine.root, "squashfs")
    assert [n for n in os.listdir(mounts) if n != ".lock"] == [], "the file's squashfuse mount went with it"
    fresh_engine.stop()
    fresh_engine.cli("info", env=SQUASHFS)  # the keep-id run's layers are released or collected
    assert leftovers(fresh_engine.root) == NOTHING


@pytest.mark.parametrize("point", ["sqfs:after-write", "sqfs:after-link", "sqfs:after-layers-trashed"])
def test_a_conversion_killed_at_each_step_is_settled_at_start(fresh_engine: Engine,
                                                              images: imagebuild.TestImages, point: str) -> None:
    image = images.layered
    env: Dict[str, str] = {**SQUASHFS, CRASH_ENV: point}
    start_daemon(fresh_engine, env)
    pid = fresh_engine.daemon_pid()
    result = fresh_engine.cli("pull", image, check=False, timeout=180)
    assert result.returncode != 0 and has_exited(pid), f"the daemon did not die at {point}: {result.stdout}"
    fresh_engine.cli("info", env=SQUASHFS)  # a new daemon without the hook settles the store at start
    files = image_files(fresh_engine.root)
    assert not [n for n in files if n.startswith(".tmp-")], files
    if point == "sqfs:after-write":  # rolled back: the image is in dir form
        assert files == [] and layer_dirs(fresh_engine.root)
    else:  # finished: the file, no layer dirs, nothing in the trash
        assert files == [image_id(fresh_engine, image)[7:] + ".sqfs"] and layer_dirs(fresh_engine.root) == []
    assert leftovers(fresh_engine.root)["trash"] == []
    check_runs(fresh_engine, image)
    fresh_engine.cli("pull", "-q", image)  # a dir-form image is converted by the next pull
    assert len(image_files(fresh_engine.root)) == 1 and layer_dirs(fresh_engine.root) == []
    fresh_engine.cli("rmi", image)
    assert image_files(fresh_engine.root) == [] and leftovers(fresh_engine.root) == NOTHING
