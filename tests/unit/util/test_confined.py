"""util/confined.py: lookups in a hostile tree never leave it."""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from rootless.util import confined
from rootless.util.confined import Root


@pytest.fixture()
def tree(tmp_path: Path) -> Any:
    """tmp/host/secret.txt outside; tmp/root is the confined tree, full of hostile links."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret.txt").write_text("host secret")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("in root")
    (root / "secret.txt").write_text("root's own")
    os.symlink(str(host / "secret.txt"), root / "abs")  # absolute: must mean root/<that path>
    os.symlink("../../host/secret.txt", root / "etc" / "rel")  # climbs above the root
    os.symlink("/", root / "slash")
    os.symlink(str(host), root / "hostdir")
    return tmp_path


def test_absolute_symlink_is_resolved_inside_the_root(tree: Path) -> None:
    with Root(str(tree / "root")) as root:
        with pytest.raises(FileNotFoundError):
            root.open("/abs")
        with pytest.raises(FileNotFoundError):
            root.open("/hostdir/secret.txt")
        with confined.closing(root.open("/slash/etc/passwd")) as fd:
            assert os.read(fd, 100) == b"in root"


def test_relative_symlink_and_dotdot_stop_at_the_root(tree: Path) -> None:
    with Root(str(tree / "root")) as root:
        with pytest.raises(FileNotFoundError):
            root.open("/etc/rel")  # ../../host/secret.txt from /etc is /host/secret.txt in the root
        with confined.closing(root.open("../../../secret.txt")) as fd:
            assert os.read(fd, 100) == b"root's own"
        assert root.read_file("/etc/../../../etc/passwd", 100) == b"in root"


def test_final_symlink_not_followed_on_request(tree: Path) -> None:
    with Root(str(tree / "root")) as root:
        assert stat.S_ISLNK(root.lstat("/abs").st_mode)
        assert root.readlink("/abs") == str(tree / "host" / "secret.txt")
        with pytest.raises(OSError) as caught:
            root.open("/slash", os.O_RDONLY, follow=False)
        assert caught.value.errno == errno.ELOOP
        assert stat.S_ISDIR(root.stat("/slash").st_mode)


def test_magic_links_are_refused() -> None:
    """/proc/self/root is a magic link to the host's /: RESOLVE_NO_MAGICLINKS says ELOOP."""
    with Root("/proc/self") as root:
        with pytest.raises(OSError) as caught:
            root.open("/root/etc/hostname")
        assert caught.value.errno == errno.ELOOP
        with pytest.raises(OSError):
            root.open("/cwd")


def test_makedirs_creates_inside_the_root_only(tree: Path) -> None:
    with Root(str(tree / "root")) as root:
        os.close(root.makedirs("../../hostdir/made/deeper"))
        os.close(root.makedirs("/slash/x/y"))
    assert not (tree / "host" / "made").exists()
    assert (tree / "root" / "x" / "y").is_dir()
    # the symlink itself is kept; what it names (its target inside the root) was created
    assert (tree / "root" / str(tree / "host").lstrip("/") / "made" / "deeper").is_dir()


def test_makedirs_refuses_a_file_in_the_way(tree: Path) -> None:
    with Root(str(tree / "root")) as root:
        with pytest.raises(NotADirectoryError):
            root.makedirs("/etc/passwd/sub")


def test_create_file_replaces_a_symlink_instead_of_writing_through_it(tree: Path) -> None:
    with Root(str(tree / "root")) as root:
        parent, name = root.parent("/abs")
        with confined.closing(parent):
            with confined.closing(confined.create_file(parent, name, 0o600)) as fd:
                os.write(fd, b"new")
    assert (tree / "host" / "secret.txt").read_text() == "host secret"
    assert (tree / "root" / "abs").read_text() == "new"
    assert not (tree / "root" / "abs").is_symlink()


def test_create_file_over_a_directory_says_so(tree: Path) -> None:
    with Root(str(tree / "root")) as root:
        parent, name = root.parent("/etc")
        with confined.closing(parent):
            with pytest.raises(IsADirectoryError):
                confined.create_file(parent, name, 0o644)


def test_remove_all_does_not_follow_symlinks(tree: Path) -> None:
    (tree / "root" / "d" / "e").mkdir(parents=True)
    os.symlink(str(tree / "host"), tree / "root" / "d" / "e" / "out")
    with Root(str(tree / "root")) as root:
        parent, name = root.parent("/d")
        with confined.closing(parent):
            confined.remove_all(parent, name)
            confined.remove_all(parent, "hostdir")
    assert not (tree / "root" / "d").exists()
    assert not (tree / "root" / "hostdir").is_symlink()
    assert (tree / "host" / "secret.txt").read_text() == "host secret"


def test_walk_lists_symlinks_without_entering_them(tree: Path) -> None:
    with Root(str(tree / "root")) as root:
        with confined.closing(root.open_dir("/")) as top:
            seen = [(rel, stat.S_IFMT(info.st_mode)) for rel, info in confined.walk(top)]
    assert seen == [("abs", stat.S_IFLNK), ("etc", stat.S_IFDIR), ("etc/passwd", stat.S_IFREG),
                    ("etc/rel", stat.S_IFLNK), ("hostdir", stat.S_IFLNK), ("secret.txt", stat.S_IFREG),
                    ("slash", stat.S_IFLNK)]


def test_open_child_takes_one_component_only(tree: Path) -> None:
    with Root(str(tree / "root")) as root:
        with confined.closing(root.open_dir("/")) as top:
            for bad in ("..", "etc/passwd", "", "."):
                with pytest.raises(ValueError):
                    confined.open_child(top, bad, os.O_RDONLY)
            with pytest.raises(OSError) as caught:
                confined.open_child(top, "abs", os.O_RDONLY)
            assert caught.value.errno == errno.ELOOP


def test_split_is_lexical() -> None:
    assert confined.split("a/b/../c") == ("/a", "c")
    assert confined.split("/") == ("/", "")
    assert confined.split("//x/") == ("/", "x")
    assert confined.components("../../x/./y") == ["x", "y"]


def test_a_kernel_without_openat2_is_a_clear_error(tmp_path: Path, monkeypatch: Any) -> None:
    """Before Linux 5.6 the syscall says ENOSYS (a kernel we can't boot here, so the syscall is stubbed)."""
    import ctypes

    from rootless.errors import FailedPrecondition

    def enosys(*args: Any) -> int:
        ctypes.set_errno(errno.ENOSYS)
        return -1

    monkeypatch.setattr(confined, "_syscall", enosys)
    with Root(str(tmp_path)) as root:
        with pytest.raises(FailedPrecondition, match="openat2: not available"):
            root.open("/x")
