"""atomic_write's temp file: a unique name without mkstemp's random one, made with O_EXCL and
O_NOFOLLOW (a leftover or a planted symlink is skipped, never written through), mode exact."""
from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path
from typing import Iterator, List

import pytest

from rootless.util import fs


def _next_temp(directory: Path, counter: int) -> Path:
    return directory / f".tmp-{os.getpid()}.{threading.get_native_id()}.{counter}~"


def test_a_leftover_or_a_symlink_at_the_next_temp_name_is_skipped_and_left_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fs, "_TEMP_COUNTER", itertools.count(7))
    outside = tmp_path / "outside"
    outside.write_text("mine")
    target_dir = tmp_path / "d"
    target_dir.mkdir()
    _next_temp(target_dir, 7).write_text("left by a killed writer")
    os.symlink(outside, _next_temp(target_dir, 8))
    fs.atomic_write(target_dir / "record", b"new", durable=False)
    assert (target_dir / "record").read_bytes() == b"new"
    assert outside.read_text() == "mine"
    assert _next_temp(target_dir, 7).read_text() == "left by a killed writer"
    assert sorted(p.name for p in target_dir.iterdir()) == sorted(
        ["record", _next_temp(target_dir, 7).name, _next_temp(target_dir, 8).name])


def test_threads_writing_into_one_dir_never_share_a_temp_file(tmp_path: Path) -> None:
    errors: List[BaseException] = []

    def write(index: int) -> None:
        try:
            for round_ in range(50):
                fs.atomic_write(tmp_path / f"f{index}", f"{index}:{round_}".encode() * 100, durable=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f0", "f1", "f2", "f3"]
    assert all((tmp_path / f"f{i}").read_bytes() == f"{i}:49".encode() * 100 for i in range(4))


def test_the_mode_is_exact_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        fs.atomic_write(tmp_path / "shared", "x", mode=0o644, durable=False)
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "shared").st_mode & 0o7777 == 0o644


def test_short_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:3])))
    data = bytes(range(256)) * 10
    fs.atomic_write(tmp_path / "f", [data[:1000], data[1000:]], durable=False)
    assert (tmp_path / "f").read_bytes() == data


def test_a_failed_write_leaves_the_target_and_no_temp_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("old")

    def chunks() -> Iterator[bytes]:
        yield b"half"
        raise OSError("disk gone")
    with pytest.raises(OSError, match="disk gone"):
        fs.atomic_write(tmp_path / "f", chunks())
    assert (tmp_path / "f").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_a_reader_object_is_copied_whole(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.write_bytes(b"y" * (3 << 20))
    with open(source, "rb") as reader:
        fs.atomic_write(tmp_path / "copy", reader)
    assert (tmp_path / "copy").read_bytes() == source.read_bytes()


def test_make_dir_makes_missing_parents_and_refuses_a_file(tmp_path: Path) -> None:
    assert fs.make_dir(tmp_path / "a" / "b", 0o700) is True
    assert fs.make_dir(tmp_path / "a" / "b", 0o700) is False
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError):
        fs.make_dir(tmp_path / "file")
