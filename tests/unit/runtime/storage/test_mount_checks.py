"""The start's mount path asks the kernel cheaply first: statx(2) for "is this a mount root", stat for the dirs."""
from __future__ import annotations

import os
from typing import Any, List

import pytest

from rootless.config.paths import Paths
from rootless.runtime.storage import driver, overlay
from rootless.util import linux


def test_is_mount_root_tells_mount_roots_from_plain_dirs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    if linux.is_mount_root("/proc") is None:
        pytest.skip("statx does not report STATX_ATTR_MOUNT_ROOT here (Linux < 5.8)")
    assert linux.is_mount_root("/proc") is True
    assert linux.is_mount_root(str(tmp_path)) is False
    assert linux.is_mount_root(str(tmp_path / "missing")) is None  # ENOENT: the mount table decides


def test_a_plain_dir_is_ruled_out_without_reading_the_mount_table(  # type: ignore[no-untyped-def]
        tmp_path, monkeypatch) -> None:
    if linux.is_mount_root("/proc") is None:
        pytest.skip("statx does not report STATX_ATTR_MOUNT_ROOT here (Linux < 5.8)")
    parsed: List[str] = []
    real_parse = driver.parse_mount_points

    def parse(text: str) -> List[str]:
        parsed.append(text)
        return real_parse(text)

    monkeypatch.setattr(driver, "parse_mount_points", parse)
    assert driver.is_mount_point(str(tmp_path)) is False
    assert parsed == []
    assert driver.is_mount_point("/proc") is True  # a mount root: the table confirms it
    assert len(parsed) == 1


def test_mount_makes_no_dirs_when_create_made_them(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    paths = Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run"))
    lower = tmp_path / "l1"
    lower.mkdir()
    kernel = overlay.OverlayDriver(paths)
    kernel.create("c1", [str(lower)])
    mounted: List[Any] = []
    kernel.mount_layers = lambda layout, lowers, volatile=False: mounted.append(lowers)  # type: ignore[method-assign]
    made: List[str] = []
    real_make = driver.make_dirs
    monkeypatch.setattr(driver, "make_dirs",
                        lambda layout, *a, **k: (made.append(layout.base), real_make(layout, *a, **k)))
    kernel.mount("c1")
    assert made == [] and mounted == [[str(lower)]]
    layout = driver.RootfsLayout.of(paths, "c1")
    os.rmdir(layout.merged)  # gone (an older engine's layout): made again before the mount
    kernel.mount("c1")
    assert made == [layout.base] and os.path.isdir(layout.merged)
