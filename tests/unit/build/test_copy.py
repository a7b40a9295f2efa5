"""build/copy.py: source matching, the content hash (no mtimes, no location), confined writes."""
from __future__ import annotations

import os
import shutil

from rootless.build import copy as copying
from rootless.util import confined


def make_tree(root: str) -> None:
    os.makedirs(os.path.join(root, "dir", "sub"))
    for name, text in (("a.txt", "a"), ("b.txt", "b"), ("c.md", "c"), ("dir/x", "x"), ("dir/sub/y", "y")):
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
    os.symlink("a.txt", os.path.join(root, "link"))


def digest(root: str, pattern: str) -> str:
    with confined.Root(root, symlinks=False) as tree:
        items = [i for p in copying.match_sources(tree, pattern) for i in copying.expand_item(tree, p)]
        return copying.hash_items(tree, items)


def test_match_sources_globs_stay_in_one_component(tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_tree(str(tmp_path))
    with confined.Root(str(tmp_path), symlinks=False) as tree:
        assert copying.match_sources(tree, "*.txt") == ["/a.txt", "/b.txt"]
        assert copying.match_sources(tree, "dir/*") == ["/dir/sub", "/dir/x"]
        assert copying.match_sources(tree, "*/y") == []
        assert copying.match_sources(tree, "./dir/../c.md") == ["/c.md"]
        assert copying.match_sources(tree, "missing") == []
        assert copying.match_sources(tree, "../../etc/passwd") == []


def test_hash_ignores_mtime_and_location_but_not_content_or_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = str(tmp_path / "ctx")
    make_tree(first)
    before = digest(first, ".")
    os.utime(os.path.join(first, "dir", "x"), (1, 1))
    assert digest(first, ".") == before
    moved = str(tmp_path / "elsewhere")
    shutil.move(first, moved)
    assert digest(moved, ".") == before
    os.chmod(os.path.join(moved, "dir", "x"), 0o600)
    assert digest(moved, ".") != before
    with open(os.path.join(moved, "a.txt"), "w") as f:
        f.write("changed")
    assert digest(moved, "a.txt") != digest(str(tmp_path), "nothing")


def test_destination_rules() -> None:
    info_file = os.stat(__file__)
    info_dir = os.stat(os.path.dirname(__file__))
    file_item = copying.SourceItem("/a.txt", "", info_file, "/a.txt")
    assert copying.destination_of(file_item, "/dest", False) == "/dest"
    assert copying.destination_of(file_item, "/dest/", True) == "/dest/a.txt"
    dir_item = copying.SourceItem("/dir", "", info_dir, "/dir")
    assert copying.destination_of(dir_item, "/dest", False) == "/dest"
    inner = copying.SourceItem("/dir/sub/y", "sub/y", info_file, "/dir")
    assert copying.destination_of(inner, "/dest", True) == "/dest/sub/y"


def test_copy_never_follows_a_symlink_out_of_the_rootfs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    source, rootfs, outside = str(tmp_path / "src"), str(tmp_path / "rootfs"), str(tmp_path / "host")
    make_tree(source)
    os.makedirs(rootfs)
    os.makedirs(outside)
    os.symlink(outside, os.path.join(rootfs, "dest"))  # an image's /dest -> <a host path>
    with confined.Root(source, symlinks=False) as tree, confined.Root(rootfs) as target:
        item = next(copying.expand_item(tree, "/a.txt"))
        copying.copy_item(tree, item, target, "/dest/a.txt", copying.Ownership(os.getuid(), os.getgid(), 0o640))
    assert os.listdir(outside) == []
    # resolved inside the rootfs: the absolute link target names a path below it
    landed = os.path.join(rootfs, outside.lstrip("/"), "a.txt")
    assert open(landed).read() == "a" and oct(os.stat(landed).st_mode & 0o777) == "0o640"
