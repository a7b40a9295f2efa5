from __future__ import annotations

import os

import pytest

from rootless.config.paths import Paths
from rootless.errors import InvalidArgument
from rootless.runtime.storage import driver, fuse_overlayfs, overlay


def test_lowerdirs_are_top_first_and_never_empty() -> None:
    assert driver.lowerdir_paths(["/l/1", "/l/2"], "/e") == ["/l/2", "/l/1"]
    assert driver.lowerdir_paths([], "/e") == ["/e"]


def test_overlay_options() -> None:
    assert overlay.overlay_options(["/b", "/a"], "/u", "/w") == \
        "lowerdir=/b:/a,upperdir=/u,workdir=/w,userxattr"
    assert overlay.overlay_options(["/a"], "/u", "/w", volatile=True) == \
        "lowerdir=/a,upperdir=/u,workdir=/w,userxattr,volatile"


def test_only_a_rm_containers_record_asks_for_a_volatile_rootfs(tmp_path) -> None:
    """durable=False (docker run --rm) marks the rootfs volatile: mount() then gives overlay "volatile"."""
    paths = Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run"))
    lower = tmp_path / "l1"
    lower.mkdir()
    kernel = overlay.OverlayDriver(paths)
    kernel.create("rm", [str(lower)], durable=False)
    kernel.create("kept", [str(lower)])
    kernel.create("rm", [str(lower)], durable=False)  # idempotent with the mark in the record
    assert driver.read_record(driver.RootfsLayout.of(paths, "rm"))[driver.RECORD_VOLATILE] is True
    assert driver.RECORD_VOLATILE not in driver.read_record(driver.RootfsLayout.of(paths, "kept"))
    seen = []
    kernel.mount_layers = lambda layout, lowers, volatile=False: seen.append(volatile)  # type: ignore[method-assign]
    kernel.mount("rm")
    kernel.mount("kept")
    assert seen == [True, False]


def test_clear_volatile_mark_removes_only_the_incompat_dir(tmp_path) -> None:
    work = tmp_path / "work"
    (work / "work" / "incompat" / "volatile").mkdir(parents=True)
    (work / "work" / "other").mkdir()
    overlay.clear_volatile_mark(str(work))
    assert sorted(os.listdir(work / "work")) == ["other"]
    overlay.clear_volatile_mark(str(work))  # none left: a no-op


def test_fd_paths_only_when_needed() -> None:
    short = ["/store/layers/abc/diff"] * 3
    assert not overlay.needs_fd_paths(short, "/u", "/w")
    long = ["/store/layers/" + "a" * 64 + f"/{i}/diff" for i in range(60)]
    assert overlay.needs_fd_paths(long, "/u", "/w")
    assert overlay.needs_fd_paths(["/odd,dir"], "/u", "/w")
    assert overlay.needs_fd_paths(["/odd:dir"], "/u", "/w")


def test_fd_paths_opens_and_closes(tmp_path) -> None:
    dirs = [str(tmp_path)] * 2
    with overlay.fd_paths(dirs) as names:
        assert all(n.startswith("/proc/self/fd/") for n in names)
        fds = [int(n.rsplit("/", 1)[1]) for n in names]
        assert all(os.path.samefile(f"/proc/self/fd/{fd}", str(tmp_path)) for fd in fds)
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)


def test_fuse_overlayfs_argv() -> None:
    assert fuse_overlayfs.fuse_overlayfs_argv(["/b", "/a"], "/u", "/w", "/m") == [
        "fuse-overlayfs", "-o", "lowerdir=/b:/a,upperdir=/u,workdir=/w", "/m"]
    with pytest.raises(InvalidArgument, match="contains"):
        fuse_overlayfs.fuse_overlayfs_argv(["/a,b"], "/u", "/w", "/m")


def test_fuse_driver_runs_the_helper(tmp_path, fp) -> None:
    paths = Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run"))
    lower = tmp_path / "l1"
    lower.mkdir()
    driver = fuse_overlayfs.FuseOverlayDriver(paths)
    driver.create("c1", [str(lower)])
    base = os.path.join(paths.container_dir("c1"), "rootfs")
    fp.register(["fuse-overlayfs", "-o",
                 f"lowerdir={lower},upperdir={base}/upper,workdir={base}/work", f"{base}/merged"])
    assert driver.mount("c1") == f"{base}/merged"
    assert fp.call_count(["fuse-overlayfs", fp.any()]) == 1
    assert driver.upper_dir("c1") == f"{base}/upper"
    assert not driver.is_mounted("c1")  # the fake helper mounted nothing
    driver.remove("c1")
    assert not os.path.exists(base)
    driver.remove("c1")


def test_fuse_overlayfs_shows_shifted_ids_of_a_keep_id_rootfs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    layout = driver.RootfsLayout(str(tmp_path / "rootfs"))
    assert fuse_overlayfs.idmap_options(layout) == ""
    driver.write_idmap(layout, [(0, 1, 1000), (1000, 0, 1)], [(0, 1, 10), (10, 0, 1)])
    options = fuse_overlayfs.idmap_options(layout)
    assert options == ",uidmapping=0:1:1000:1000:0:1,gidmapping=0:1:10:10:0:1"  # fuse-overlayfs joins with ':'
    argv = fuse_overlayfs.fuse_overlayfs_argv(["/a"], "/u", "/w", "/m", options)
    assert argv[2] == "lowerdir=/a,upperdir=/u,workdir=/w,uidmapping=0:1:1000:1000:0:1,gidmapping=0:1:10:10:0:1"


def test_fuse_overlayfs_noacl_over_a_fuse_lower_with_shifted_ids(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """squashfuse answers EOPNOTSUPP for POSIX ACLs, which fuse-overlayfs rewrites when it shifts ids."""
    argv = fuse_overlayfs.fuse_overlayfs_argv(["/a"], "/u", "/w", "/m", ",uidmapping=0:1:1", noacl=True)
    assert argv[2] == "lowerdir=/a,upperdir=/u,workdir=/w,uidmapping=0:1:1,noacl"
    assert not fuse_overlayfs.on_fuse(str(tmp_path)) and not fuse_overlayfs.on_fuse(str(tmp_path / "gone"))


def test_a_rm_containers_lowers_record_is_not_synced_and_a_torn_one_reads_as_not_created(
        tmp_path, monkeypatch) -> None:
    from tests.unit.fsync_spy import spy_fsync

    paths = Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run"))
    lower = tmp_path / "l1"
    lower.mkdir()
    synced = spy_fsync(monkeypatch)
    overlay_driver = fuse_overlayfs.FuseOverlayDriver(paths)
    overlay_driver.create("kept", [str(lower)])
    assert len(synced) == 2  # the file and its dir
    overlay_driver.create("rm", [str(lower)], durable=False)  # docker run --rm: its record has no fsync either
    assert len(synced) == 2
    layout = driver.RootfsLayout.of(paths, "rm")
    with open(layout.record, "w") as f:
        f.write('{"driver": "fuse-overla')  # what a power cut may leave of it
    assert driver.driver_of(paths, "rm") is None
    with pytest.raises(driver.NotFound, match="not created"):
        driver.read_lowers(layout)
    overlay_driver.create("rm", [str(lower)], durable=False)  # made again, not refused as "other lowers"
    assert driver.read_lowers(layout) == [str(lower)]
