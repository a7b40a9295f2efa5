"""Unit tests for rootless.util.fs helpers."""
from __future__ import annotations

import os
from pathlib import Path

from rootless.util import fs


def test_dir_size_counts_regular_files_recursively(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 10)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 5)
    assert fs.dir_size(tmp_path) == 15


def test_dir_size_does_not_follow_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big").write_bytes(b"z" * 1000)
    inside = tmp_path / "inside"
    inside.mkdir()
    os.symlink(outside / "big", inside / "link")
    os.symlink(outside, inside / "dirlink")
    # a symlink counts its own size (its target's length), as docker's SizeRw (pkg/directory) does
    assert fs.dir_size(inside) == len(os.fsencode(str(outside / "big"))) + len(os.fsencode(str(outside)))


def test_dir_size_of_missing_dir_is_zero(tmp_path: Path) -> None:
    assert fs.dir_size(tmp_path / "nope") == 0
