"""Unit tests for rootless.util.fs helpers."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from rootless.util import fs
from tests.unit.fsync_spy import spy_fsync


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


def test_atomic_write_syncs_unless_told_the_file_need_not_survive_a_reboot(tmp_path: Path, monkeypatch) -> None:
    synced = spy_fsync(monkeypatch)
    fs.atomic_write(tmp_path / "durable", b"1")
    assert len(synced) == 2  # the file, then its directory
    synced.clear()
    fs.atomic_write_json(tmp_path / "runtime.json", {"a": 1}, 0o600, durable=False)
    assert synced == []
    assert fs.read_json(tmp_path / "runtime.json") == {"a": 1}
    assert oct(os.stat(tmp_path / "runtime.json").st_mode & 0o777) == oct(0o600)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []


def test_atomic_write_json_writes_one_sorted_line_that_reads_back(tmp_path: Path) -> None:
    """Compact, so that json's C encoder writes it (indent would force the Python one)."""
    record = {"b": [1, {"y": None, "x": "é"}], "a": {"n": 1.5}}
    fs.atomic_write_json(tmp_path / "record.json", record)
    text = (tmp_path / "record.json").read_text()
    assert text == '{"a": {"n": 1.5}, "b": [1, {"x": "\\u00e9", "y": null}]}\n'
    assert fs.read_json(tmp_path / "record.json") == record


def test_close_ends_closes_the_fd_and_every_stream_even_after_a_failure(tmp_path):  # type: ignore[no-untyped-def]
    class Broken:
        closed = False

        def close(self) -> None:
            self.closed = True
            raise BrokenPipeError(32, "Broken pipe")

    read_fd, write_fd = os.pipe()
    broken, last = Broken(), open(tmp_path / "f", "wb")
    fs.close_ends(read_fd, broken, None, last)  # type: ignore[arg-type]
    assert broken.closed and last.closed
    with pytest.raises(OSError):
        os.fstat(read_fd)
    os.close(write_fd)
    fs.close_ends(-1)  # no terminal, no pipes: nothing to do
