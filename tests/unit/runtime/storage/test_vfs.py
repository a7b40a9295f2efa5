from __future__ import annotations

import os
import stat

import pytest

from rootless.config.paths import Paths
from rootless.errors import NotFound
from rootless.runtime.storage import vfs, whiteouts
from tests.unit.swap_race import swapping


def write(path, text: str) -> None:
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def tree(root) -> list:
    found = []
    for dirpath, dirs, files in os.walk(str(root)):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, str(root))
            found.append(rel + (" (whiteout)" if whiteouts.is_whiteout(os.lstat(path)) else ""))
    return sorted(found)


@pytest.fixture()
def layers(tmp_path) -> list:
    l1, l2 = tmp_path / "l1", tmp_path / "l2"
    write(l1 / "file", "f1")
    write(l1 / "gone", "g")
    write(l1 / "d" / "x", "x")
    write(l1 / "swap" / "inner", "i")
    os.link(l1 / "file", l1 / "hard")
    os.symlink("file", l1 / "link")
    os.chmod(l1 / "file", 0o640)
    write(l2 / "d" / "y", "y")
    write(l2 / "swap", "now a file")
    whiteouts.make_whiteout(str(l2 / "gone"))
    whiteouts.mark_opaque(str(l2 / "d"))
    return [str(l1), str(l2)]


def test_apply_layers_honours_whiteouts_and_opaque_dirs(tmp_path, layers) -> None:
    target = str(tmp_path / "merged")
    vfs.populate(target, layers)
    assert tree(target) == ["d", "d/y", "file", "hard", "link", "swap"]
    assert os.lstat(os.path.join(target, "file")).st_mode & 0o7777 == 0o640
    assert os.readlink(os.path.join(target, "link")) == "file"
    assert os.path.samefile(os.path.join(target, "file"), os.path.join(target, "hard"))
    with open(os.path.join(target, "swap")) as f:
        assert f.read() == "now a file"
    # the copy keeps no driver markers
    assert "user.overlay.opaque" not in os.listxattr(os.path.join(target, "d"))
    assert not os.path.exists(target + ".partial")


def test_index_lowers_is_the_merged_view(layers) -> None:
    assert sorted(vfs.index_lowers(layers)) == ["d", "d/y", "file", "hard", "link", "swap"]


def test_write_changes_in_overlay_format(tmp_path, layers) -> None:
    merged, upper = str(tmp_path / "merged"), str(tmp_path / "upper")
    vfs.populate(merged, layers)
    os.unlink(os.path.join(merged, "file"))
    write(os.path.join(merged, "new", "n"), "n")
    write(os.path.join(merged, "d", "y"), "changed!")
    os.unlink(os.path.join(merged, "swap"))
    os.mkdir(os.path.join(merged, "swap"))
    vfs.write_changes(merged, layers, upper)
    assert tree(upper) == ["d", "d/y", "file (whiteout)", "new", "new/n", "swap"]
    assert whiteouts.is_opaque_dir(os.path.join(upper, "swap"))  # a dir over a lower file
    assert not whiteouts.is_opaque_dir(os.path.join(upper, "d"))
    vfs.write_changes(merged, layers, upper)  # recomputed from scratch
    assert tree(upper) == ["d", "d/y", "file (whiteout)", "new", "new/n", "swap"]


def test_no_changes_gives_empty_upper(tmp_path, layers) -> None:
    merged, upper = str(tmp_path / "merged"), str(tmp_path / "upper")
    vfs.populate(merged, layers)
    vfs.write_changes(merged, layers, upper)
    assert tree(upper) == []


def test_driver_lifecycle(tmp_path, layers) -> None:
    paths = Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run"))
    driver = vfs.VfsDriver(paths)
    driver.create("c1", layers)
    driver.create("c1", layers)
    merged = driver.mount("c1")
    assert driver.is_mounted("c1") and tree(merged)[0] == "d"
    write(os.path.join(merged, "added"), "a")
    driver.unmount("c1")
    assert tree(driver.upper_dir("c1")) == ["added"]
    driver.remove("c1")
    assert not os.path.exists(os.path.join(paths.container_dir("c1"), "rootfs"))
    with pytest.raises(NotFound):
        driver.upper_dir("c1")


def test_mount_finishes_an_interrupted_copy(tmp_path, layers) -> None:
    paths = Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run"))
    driver = vfs.VfsDriver(paths)
    driver.create("c1", layers)
    merged = driver.mount("c1")
    vfs.remove_path(merged)
    os.mkdir(merged + ".partial")
    assert tree(driver.mount("c1"))[:2] == ["d", "d/y"]


def test_copy_entry_fifo(tmp_path) -> None:
    src = str(tmp_path / "fifo")
    os.mkfifo(src, 0o644)
    dst = str(tmp_path / "copy")
    vfs.copy_entry(src, dst, os.lstat(src), {})
    assert stat.S_ISFIFO(os.lstat(dst).st_mode)
    assert os.lstat(dst).st_mode & 0o777 == 0o644


def test_write_changes_never_copies_a_host_file_during_a_swap_race(tmp_path, layers) -> None:
    """A running container renames dirs into symlinks to the user's files (renameat2 RENAME_EXCHANGE)."""
        
    host = tmp_path / "host"
    write(host / "d" / "f", "HOST-SECRET")
    write(host / "g", "HOST-SECRET")
    merged, upper = tmp_path / "merged", tmp_path / "upper"
    vfs.populate(str(merged), layers)
    write(merged / "race" / "d" / "f", "inside")
    os.symlink(str(host / "d"), merged / "race" / "dl")
    write(merged / "race" / "g", "inside")
    os.symlink(str(host / "g"), merged / "race" / "gl")
    race = merged / "race"
    pairs = [(bytes(race / "d"), bytes(race / "dl")), (bytes(race / "g"), bytes(race / "gl"))]
    with swapping(pairs):
        for _ in range(200):
            try:
                vfs.write_changes(str(merged), layers, str(upper))
            except OSError:
                continue  # an entry changed type under the copy: fine, reading the host's file is not
            for dirpath, _dirs, files in os.walk(upper):
                for name in files:
                    path = os.path.join(dirpath, name)
                    if not os.path.islink(path) and stat.S_ISREG(os.lstat(path).st_mode):
                        with open(path) as f:
                            assert "HOST-SECRET" not in f.read()
