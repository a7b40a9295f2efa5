"""`rootless cp` out of a container: the tar comes from the container and is hostile (issue 7)."""
from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import List, Tuple

import pytest

from rootless.cli.container import cp as cp_module
from rootless.errors import InvalidArgument


def _tar(entries: List[Tuple[str, str, str]]) -> io.BytesIO:
    """(name, kind file|dir|sym, data or link target)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, kind, value in entries:
            info = tarfile.TarInfo(name)
            info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE}[kind]
            info.mode = 0o755 if kind == "dir" else 0o644
            if kind == "sym":
                info.linkname = value
                tar.addfile(info)
            else:
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value.encode()))
    out.seek(0)
    return out


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "secret.txt").write_text("secret")
    (tmp_path / "dest").mkdir()
    return tmp_path


def test_an_entry_under_a_symlink_it_just_extracted_is_refused(home: Path) -> None:
    """The race's tar: top/a is a symlink to the user's home, then top/a/planted."""
    body = _tar([("top", "dir", ""), ("top/a", "sym", str(home / "home")), ("top/a/planted", "file", "x")])
    with pytest.raises(InvalidArgument, match="a symlink is on its path"):
        cp_module.extract_tar(body, str(home / "dest"), "top")
    assert sorted(os.listdir(home / "home")) == ["secret.txt"]
    assert os.readlink(home / "dest" / "top" / "a") == str(home / "home")


def test_a_symlink_then_a_file_of_the_same_name_replaces_the_link(home: Path) -> None:
    body = _tar([("top", "dir", ""), ("top/s", "sym", str(home / "home" / "secret.txt")), ("top/s", "file", "new")])
    cp_module.extract_tar(body, str(home / "dest"), "top")
    assert (home / "home" / "secret.txt").read_text() == "secret"
    assert (home / "dest" / "top" / "s").read_text() == "new" and not (home / "dest" / "top" / "s").is_symlink()


def test_relative_climbing_symlink_as_a_parent_is_refused(home: Path) -> None:
    body = _tar([("top", "dir", ""), ("top/up", "sym", "../../home"), ("top/up/planted", "file", "x")])
    with pytest.raises(InvalidArgument):
        cp_module.extract_tar(body, str(home / "dest"), "top")
    assert not (home / "home" / "planted").exists()


def test_a_directory_is_not_replaced_by_a_file(home: Path) -> None:
    (home / "dest" / "top" / "keep").mkdir(parents=True)
    (home / "dest" / "top" / "keep" / "mine").write_text("mine")
    with pytest.raises(InvalidArgument, match="cannot overwrite directory"):
        cp_module.extract_tar(_tar([("top", "dir", ""), ("top/keep", "file", "x")]), str(home / "dest"), "top")
    assert (home / "dest" / "top" / "keep" / "mine").read_text() == "mine"
