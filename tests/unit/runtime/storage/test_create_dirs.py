"""A container's rootfs dirs are made with one mkdir(2) each and locked by the base dir itself
(no lock file: one inode fewer made and deleted per container), modes exact whatever the umask;
lowers.json is not read back by the start right after the create wrote it."""
from __future__ import annotations

import errno
import fcntl
import os
import stat as stat_mod
import threading
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from rootless.config.paths import Paths
from rootless.errors import NotFound
from rootless.runtime.storage import driver as drv
from rootless.runtime.storage.overlay import OverlayDriver
from rootless.util import fs


@pytest.fixture()
def paths(tmp_path: Path) -> Paths:
    return Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run"))


@pytest.fixture()
def lower(tmp_path: Path) -> str:
    path = tmp_path / "layer"
    path.mkdir()
    os.chmod(path, 0o751)
    return str(path)


@pytest.fixture()
def strict_umask() -> Iterator[None]:
    old = os.umask(0o077)
    yield
    os.umask(old)


def test_a_create_makes_four_dirs_one_mkdir_each_and_no_lock_file(paths: Paths, lower: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    os.makedirs(paths.container_dir("c1"))
    made: List[str] = []
    real_mkdir = os.mkdir

    def mkdir(path: str, mode: int = 0o777) -> None:
        made.append(os.path.relpath(path, paths.container_dir("c1")))
        real_mkdir(path, mode)
    monkeypatch.setattr(os, "mkdir", mkdir)
    OverlayDriver(paths).create("c1", [lower], durable=False)
    assert made == ["rootfs", "rootfs/upper", "rootfs/work", "rootfs/merged"]
    assert sorted(os.listdir(drv.RootfsLayout.of(paths, "c1").base)) == ["lowers.json", "merged", "upper", "work"]


def test_modes_are_exact_under_a_strict_umask_and_a_second_create_changes_nothing(
        paths: Paths, lower: str, strict_umask: None) -> None:
    driver = OverlayDriver(paths)
    driver.create("c1", [lower])
    layout = drv.RootfsLayout.of(paths, "c1")
    modes = {name: os.stat(os.path.join(layout.base, name)).st_mode & 0o7777
             for name in ("upper", "work", "merged", "lowers.json")}
    assert modes == {"upper": 0o751, "work": 0o700, "merged": 0o755, "lowers.json": 0o644}
    driver.create("c1", [lower])
    assert {name: os.stat(os.path.join(layout.base, name)).st_mode & 0o7777 for name in modes} == modes


def test_a_layerless_image_gets_a_0755_upper(paths: Paths, strict_umask: None) -> None:
    OverlayDriver(paths).create("c1", [])
    assert os.stat(drv.RootfsLayout.of(paths, "c1").upper).st_mode & 0o7777 == 0o755


def test_a_file_where_a_dir_belongs_is_refused_not_taken_for_the_dir(paths: Paths, lower: str) -> None:
    layout = drv.RootfsLayout.of(paths, "c1")
    os.makedirs(layout.base)
    Path(layout.work).write_text("")
    with pytest.raises(FileExistsError):
        OverlayDriver(paths).create("c1", [lower])


def lock_order(layout: drv.RootfsLayout, files_while_held: List[str]) -> List[str]:
    """Who got the container lock first: this thread holding it, or a second one asking meanwhile.

    files_while_held: what the layout's dir held while the lock was taken (a lock file or not).
    """
    order: List[str] = []

    def second() -> None:
        with drv.container_lock(layout):
            order.append("second")
    with drv.container_lock(layout):
        files_while_held.extend(os.listdir(layout.base))
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.1)  # the time to block on the lock
        order.append("first")
    thread.join(5)
    return order


def test_the_container_lock_is_exclusive_between_threads(paths: Paths) -> None:
    layout = drv.RootfsLayout.of(paths, "c1")
    files: List[str] = []
    assert lock_order(layout, files) == ["first", "second"]
    assert files == []  # the dir is the lock: no file made for it


def test_remove_under_the_lock_deletes_the_locked_dir(paths: Paths, lower: str) -> None:
    driver = OverlayDriver(paths)
    driver.create("c1", [lower])
    driver.remove("c1")
    assert not os.path.exists(drv.RootfsLayout.of(paths, "c1").base)
    driver.remove("c1")  # gone: a no-op


def test_where_a_dir_cant_be_locked_a_lock_file_serialises_instead(paths: Paths,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """NFS turns flock into a POSIX lock, which needs a file open for writing: EBADF on a dir's fd."""
    real_flock = fcntl.flock

    def nfs_flock(fd: int, operation: int) -> None:
        if stat_mod.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EBADF, "Bad file descriptor")
        real_flock(fd, operation)
    monkeypatch.setattr(fcntl, "flock", nfs_flock)
    files: List[str] = []
    assert lock_order(drv.RootfsLayout.of(paths, "c1"), files) == ["first", "second"]
    assert files == [drv.LOCK_FILE]


def test_the_start_does_not_read_back_the_record_the_create_wrote(paths: Paths, lower: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    OverlayDriver(paths).create("c1", [lower], durable=False)
    reads: List[str] = []
    real_read_json = fs.read_json
    monkeypatch.setattr(fs, "read_json", lambda path, default=None: reads.append(str(path)) or
                        real_read_json(path, default))
    assert drv.driver_of(paths, "c1") == "overlay"
    record = drv.read_record(drv.RootfsLayout.of(paths, "c1"))
    assert record == {"driver": "overlay", "lowers": [lower], drv.RECORD_VOLATILE: True}
    assert reads == []
    record["lowers"].append("/elsewhere")  # a caller's copy: the next reader still sees the file's lowers
    assert drv.read_lowers(drv.RootfsLayout.of(paths, "c1")) == [lower]


def test_a_record_replaced_or_removed_behind_the_cache_is_read_again(paths: Paths, lower: str) -> None:
    OverlayDriver(paths).create("c1", [lower])
    layout = drv.RootfsLayout.of(paths, "c1")
    fs.atomic_write_json(layout.record, {"driver": "vfs", "lowers": []})
    assert drv.driver_of(paths, "c1") == "vfs"
    Path(layout.record).write_text('{"driver": "ov')  # torn (a power cut): not created
    assert drv.driver_of(paths, "c1") is None
    os.unlink(layout.record)
    assert drv.driver_of(paths, "c1") is None
    with pytest.raises(NotFound, match="not created"):
        drv.read_record(layout)
