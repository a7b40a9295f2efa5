"""Copy-up from a hostile rootfs into a new volume: content, metadata, links kept; nothing outside touched."""
from __future__ import annotations

import os
import stat

import pytest

from rootless.volumes import VolumeStore, copyup
from rootless.config.paths import Paths


@pytest.fixture()
def rootfs(tmp_path) -> str:  # type: ignore[no-untyped-def]
    root = tmp_path / "rootfs"
    data = root / "srv" / "data"
    (data / "sub").mkdir(parents=True)
    (data / "file").write_text("hello")
    os.chmod(data / "file", 0o640)
    (data / "sub" / "deep").write_text("deep")
    os.link(data / "file", data / "hard")
    os.symlink("/etc/passwd", data / "abs-link")  # a link is copied as a link, never followed
    os.symlink("../../../../outside", data / "rel-link")
    os.mkfifo(data / "pipe")
    os.setxattr(data / "file", "user.note", b"kept")
    os.chmod(data, 0o750)
    os.utime(data / "file", (1000000, 1700000000))
    (tmp_path / "hostdir").mkdir()
    (tmp_path / "hostdir" / "secret").write_text("host secret")
    os.symlink("/srv/data", root / "link-to-data")  # resolved inside the rootfs
    os.symlink(str(tmp_path / "hostdir"), root / "escape")  # a host directory, not in the rootfs
    return str(root)


@pytest.fixture()
def data(tmp_path) -> str:  # type: ignore[no-untyped-def]
    made = tmp_path / "vol" / "_data"
    made.mkdir(parents=True)
    return str(made)


def test_content_metadata_and_links_are_copied(rootfs: str, data: str) -> None:
    assert copyup.copy_up(rootfs, "/link-to-data", data)
    assert sorted(os.listdir(data)) == ["abs-link", "file", "hard", "pipe", "rel-link", "sub"]
    assert open(os.path.join(data, "file")).read() == "hello"
    info = os.stat(os.path.join(data, "file"))
    assert stat.S_IMODE(info.st_mode) == 0o640 and info.st_mtime == 1700000000
    assert os.stat(os.path.join(data, "hard")).st_ino == info.st_ino
    assert os.readlink(os.path.join(data, "abs-link")) == "/etc/passwd"
    assert os.readlink(os.path.join(data, "rel-link")) == "../../../../outside"
    assert stat.S_ISFIFO(os.lstat(os.path.join(data, "pipe")).st_mode)
    assert os.getxattr(os.path.join(data, "file"), "user.note") == b"kept"
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o750  # the volume's top takes the image dir's mode
    assert open(os.path.join(data, "sub", "deep")).read() == "deep"
    assert os.listdir(os.path.dirname(data)) == ["_data"]  # no staging dir left


def test_a_symlink_leading_out_of_the_rootfs_resolves_inside_it(rootfs: str, data: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # /escape names a host directory; inside the rootfs that path does not exist
    assert not copyup.copy_up(rootfs, "/escape", data)
    os.symlink("../../../../../../..", os.path.join(rootfs, "up"))
    assert copyup.copy_up(rootfs, "/up/srv/data", data)  # ".." stops at the rootfs's top
    assert "secret" not in os.listdir(data) and "file" in os.listdir(data)


def test_a_volume_with_content_is_never_copied_into(rootfs: str, data: str) -> None:
    open(os.path.join(data, "mine"), "w").close()
    assert not copyup.copy_up(rootfs, "/srv/data", data)
    assert os.listdir(data) == ["mine"]


def test_a_missing_or_non_directory_source_copies_nothing(rootfs: str, data: str) -> None:
    assert not copyup.copy_up(rootfs, "/nothing/here", data)
    assert not copyup.copy_up(rootfs, "/srv/data/file", data)
    assert os.listdir(data) == []


def test_a_copy_killed_before_its_rename_leaves_an_empty_new_volume(tmp_path, rootfs: str,  # type: ignore[no-untyped-def]
                                                                    monkeypatch) -> None:
    store = VolumeStore(Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run")))
    volume = store.create("vv")
    assert volume.needs_copy_up

    class Killed(BaseException):
        pass

    def die(name: str) -> None:
        if name == "volume-copyup:before-rename":
            raise Killed()
    monkeypatch.setattr("rootless.volumes.copyup.crash_point", die)
    real_remove = copyup.remove_tree
    monkeypatch.setattr(copyup, "remove_tree", lambda path: None)  # SIGKILL: no cleanup runs
    with pytest.raises(Killed):
        store.first_mount("vv", rootfs, "/srv/data", copy=True)
    assert os.listdir(volume.mountpoint) == [] and store.get("vv").needs_copy_up
    monkeypatch.setattr(copyup, "remove_tree", real_remove)
    monkeypatch.setattr("rootless.volumes.copyup.crash_point", lambda name: None)
    assert store.first_mount("vv", rootfs, "/srv/data", copy=True)
    assert "file" in os.listdir(volume.mountpoint) and not store.get("vv").needs_copy_up
    assert not [n for n in os.listdir(os.path.dirname(volume.mountpoint)) if n.startswith(".copyup-")]
    os.unlink(os.path.join(volume.mountpoint, "file"))
    assert not store.first_mount("vv", rootfs, "/srv/data", copy=True)  # no longer new: never again


def test_nocopy_makes_the_volume_not_new(tmp_path, rootfs: str) -> None:  # type: ignore[no-untyped-def]
    store = VolumeStore(Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run")))
    volume = store.create("vv")
    assert not store.first_mount("vv", rootfs, "/srv/data", copy=False)
    assert os.listdir(volume.mountpoint) == [] and not store.get("vv").needs_copy_up
    assert not store.create("tt", options={"type": "tmpfs", "device": "tmpfs"}).needs_copy_up
