from __future__ import annotations

import json
import os

import pytest

from rootless.config.paths import Paths
from rootless.errors import FailedPrecondition, InvalidArgument, NotFound
from rootless.runtime import storage
from rootless.runtime.storage import driver as drv

MOUNTINFO = (
    "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "130 87 0:43 / /home/u/my\\040dir/merged rw - overlay overlay rw,lowerdir=/a\n"
)


@pytest.fixture()
def paths(tmp_path) -> Paths:
    return Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run"))


def test_parse_mount_points_unescapes_octal() -> None:
    assert drv.parse_mount_points(MOUNTINFO) == ["/", "/home/u/my dir/merged"]
    assert drv.unescape_mountinfo("a\\011b\\134c") == "a\tb\\c"


def test_is_mount_point_reads_mountinfo(tmp_path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    assert drv.is_mount_point("/home/u/my dir/merged", str(info))
    assert not drv.is_mount_point("/home/u", str(info))


def test_layout_under_container_dir(paths: Paths) -> None:
    layout = drv.RootfsLayout.of(paths, "abc")
    assert layout.merged == os.path.join(paths.container_dir("abc"), "rootfs", "merged")
    for bad in ("", "../x", ".hidden", "a/b"):
        with pytest.raises(InvalidArgument):
            drv.RootfsLayout.of(paths, bad)


def test_write_record_is_idempotent_and_refuses_changes(paths: Paths, tmp_path) -> None:
    lower = tmp_path / "l1"
    lower.mkdir()
    layout = drv.RootfsLayout.of(paths, "c1")
    drv.write_record(layout, "vfs", [str(lower)])
    drv.write_record(layout, "vfs", [str(lower)])
    with open(layout.record) as f:
        assert json.load(f) == {"driver": "vfs", "lowers": [str(lower)]}
    assert drv.read_lowers(layout) == [str(lower)]
    assert drv.driver_of(paths, "c1") == "vfs"
    with pytest.raises(FailedPrecondition, match="other lowers"):
        drv.write_record(layout, "overlay", [str(lower)])


def test_write_record_checks_lowers(paths: Paths, tmp_path) -> None:
    layout = drv.RootfsLayout.of(paths, "c1")
    with pytest.raises(InvalidArgument, match="absolute"):
        drv.write_record(layout, "vfs", ["relative/dir"])
    with pytest.raises(NotFound, match="no such layer dir"):
        drv.write_record(layout, "vfs", [str(tmp_path / "missing")])


def test_read_lowers_of_unknown_container(paths: Paths) -> None:
    with pytest.raises(NotFound, match="not created"):
        drv.read_lowers(drv.RootfsLayout.of(paths, "nope"))


def test_make_dirs_copies_top_layer_root_mode(paths: Paths, tmp_path) -> None:
    lower = tmp_path / "l1"
    lower.mkdir(mode=0o750)
    os.chmod(lower, 0o750)
    layout = drv.RootfsLayout.of(paths, "c1")
    drv.make_dirs(layout, [str(lower)])
    assert os.stat(layout.upper).st_mode & 0o7777 == 0o750
    assert os.path.isdir(layout.work) and os.path.isdir(layout.merged)


def test_get_driver(paths: Paths) -> None:
    assert [storage.get_driver(n, paths).name for n in storage.DRIVER_NAMES] == [
        "overlay", "fuse-overlayfs", "vfs"]
    with pytest.raises(InvalidArgument, match="unknown storage driver: zfs"):
        storage.get_driver("zfs", paths)


def test_select_driver_honours_configured_name(tmp_path) -> None:
    assert storage.select_driver("vfs", str(tmp_path)) == "vfs"
