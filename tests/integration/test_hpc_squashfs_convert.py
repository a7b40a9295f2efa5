"""Issue 15: images stored before image_format changed are counted by info and doctor, and
`rootless image convert` puts them in the configured form, either way, crash-safe.

To "squashfs": the file made and linked into place, then the layer dirs go
(an image a container uses keeps them until a start after it is gone). To
"dirs": the layers unpacked, then the file goes. A daemon SIGKILLed at each
step leaves the old form or the new; the next start settles it, and convert
finishes what is left.
"""
from __future__ import annotations

import json
from typing import Dict

import pytest

from tests.integration.conftest import Engine
from tests.integration.images.test_store_crash import CRASH_ENV, has_exited, start_daemon
from tests.integration.test_hpc_squashfs_store import (SQUASHFS, _tools, check_runs, image_files,  # noqa: F401
                                                       image_id, layer_dirs)

pytestmark = pytest.mark.timeout(300)
DIRS: Dict[str, str] = {}


def not_converted(engine: Engine, env: Dict[str, str]) -> int:
    info = json.loads(engine.cli("info", "--format", "json", env=env).stdout)
    return int(info["Rootless"]["ImagesNotInFormat"])


def test_a_switched_format_is_reported_and_convert_converts_both_ways(fresh_engine: Engine,
                                                                     images: object) -> None:
    layered, busybox = images.layered, images.busybox  # type: ignore[attr-defined]
    for image in (layered, busybox):
        fresh_engine.cli("pull", "-q", image, timeout=180)
    name = fresh_engine.cli("create", busybox, "echo", "from-dirs").stdout.strip()  # stacks busybox's layer dirs
    assert image_files(fresh_engine.root) == [] and not_converted(fresh_engine, DIRS) == 0
    start_daemon(fresh_engine, SQUASHFS)
    assert not_converted(fresh_engine, SQUASHFS) == 2
    text = fresh_engine.cli("info").stdout
    assert "Image format:     squashfs (2 image(s) not converted yet: rootless image convert)" in text, text
    assert "WARNING: 2 image(s) not yet in the configured image_format 'squashfs'" in text, text
    doctor = fresh_engine.cli("doctor", check=False).stdout
    assert "image format: 2 image(s) not yet stored as the configured image_format 'squashfs'" in doctor, doctor
    out = fresh_engine.cli("image", "convert", timeout=300).stdout
    assert "2 image(s) converted to squashfs\n" in out and "layer dirs stay while containers use" in out, out
    assert sorted(image_files(fresh_engine.root)) == sorted(image_id(fresh_engine, i)[7:] + ".sqfs"
                                                            for i in (layered, busybox))
    assert not_converted(fresh_engine, SQUASHFS) == 0
    assert "image format: squashfs: every image" in fresh_engine.cli("doctor", check=False).stdout
    assert fresh_engine.cli("start", "-a", name).stdout == "from-dirs\n"  # on the layer dirs it was made on
    fresh_engine.cli("rm", name)
    start_daemon(fresh_engine, SQUASHFS)  # the next start releases what the container kept
    assert layer_dirs(fresh_engine.root) == []
    check_runs(fresh_engine, layered)
    # And back: layers unpacked from the blobs, files removed with their mounts.
    start_daemon(fresh_engine, DIRS)
    assert not_converted(fresh_engine, DIRS) == 2
    out = fresh_engine.cli("image", "convert", timeout=300).stdout
    assert "2 image(s) converted to dirs\n" in out, out
    assert image_files(fresh_engine.root) == [] and layer_dirs(fresh_engine.root)
    assert not_converted(fresh_engine, DIRS) == 0
    check_runs(fresh_engine, layered)
    assert "0 image(s) converted" in fresh_engine.cli("image", "convert").stdout


@pytest.mark.parametrize("point", ["sqfs:after-write", "sqfs:after-link", "sqfs:after-layers-trashed"])
def test_a_convert_to_squashfs_killed_at_each_step_is_settled_and_finished(fresh_engine: Engine, images: object,
                                                                           point: str) -> None:
    layered = images.layered  # type: ignore[attr-defined]
    fresh_engine.cli("pull", "-q", layered, timeout=180)
    start_daemon(fresh_engine, {**SQUASHFS, CRASH_ENV: point})
    pid = fresh_engine.daemon_pid()
    result = fresh_engine.cli("image", "convert", check=False, timeout=300)
    assert result.returncode != 0 and has_exited(pid), f"the daemon did not die at {point}: {result.stdout}"
    left = not_converted(fresh_engine, SQUASHFS)  # a new daemon without the hook settles at start
    files = image_files(fresh_engine.root)
    assert not [n for n in files if n.startswith(".tmp-")], files
    if point == "sqfs:after-write":  # rolled back: still in dir form
        assert left == 1 and files == [] and layer_dirs(fresh_engine.root)
    else:  # done: the file, no layer dirs
        assert left == 0 and len(files) == 1 and layer_dirs(fresh_engine.root) == []
    fresh_engine.cli("image", "convert", timeout=300)
    assert not_converted(fresh_engine, SQUASHFS) == 0 and layer_dirs(fresh_engine.root) == []
    check_runs(fresh_engine, layered)


def test_a_convert_to_dirs_killed_between_unpack_and_unlink_is_finished_at_start(fresh_engine: Engine,
                                                                                 images: object) -> None:
    layered = images.layered  # type: ignore[attr-defined]
    start_daemon(fresh_engine, SQUASHFS)
    fresh_engine.cli("pull", "-q", layered, timeout=180)
    check_runs(fresh_engine, layered)  # its squashfuse mount made
    start_daemon(fresh_engine, {CRASH_ENV: "sqfs:after-unpack"})
    pid = fresh_engine.daemon_pid()
    result = fresh_engine.cli("image", "convert", check=False, timeout=300)
    assert result.returncode != 0 and has_exited(pid), result.stdout
    assert len(image_files(fresh_engine.root)) == 1 and layer_dirs(fresh_engine.root)  # both forms
    assert not_converted(fresh_engine, DIRS) == 0  # the next start removed the file
    assert image_files(fresh_engine.root) == []
    check_runs(fresh_engine, layered)
