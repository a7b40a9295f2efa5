"""User and group resolution inside an untrusted rootfs (runtime/users.py)."""
from __future__ import annotations

import os
from typing import Any

import pytest

from rootless.errors import InvalidArgument
from rootless.runtime.users import ExecUser, read_rootfs_file, resolve_user

PASSWD = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:web:/var/www:/bin/false\n1234:x:77:77::/n:/bin/sh\n"
GROUP = "root:x:0:\nwheel:x:10:www,root\nwww:x:33:\nstaff:x:50:\n"


@pytest.fixture()
def rootfs(tmp_path: Any) -> str:
    etc = tmp_path / "rootfs" / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text(PASSWD)
    (etc / "group").write_text(GROUP)
    return str(tmp_path / "rootfs")


@pytest.mark.parametrize("user_spec, expected", [
    ("", ExecUser(0, 0, (10,), "/root")),
    ("root", ExecUser(0, 0, (10,), "/root")),
    ("www", ExecUser(33, 33, (10,), "/var/www")),
    ("33", ExecUser(33, 33, (10,), "/var/www")),
    ("www:staff", ExecUser(33, 50, (10,), "/var/www")),
    ("www:60", ExecUser(33, 60, (10,), "/var/www")),
    ("5000", ExecUser(5000, 0, (), "/")),
    ("5000:5001", ExecUser(5000, 5001, (), "/")),
    ("1234", ExecUser(1234, 0, (), "/")),  # numeric means a uid, never a user named "1234"
    ("77", ExecUser(77, 77, (), "/n")),
])
def test_resolve_user(rootfs: str, user_spec: str, expected: ExecUser) -> None:
    assert resolve_user(rootfs, user_spec) == expected


def test_group_add_by_name_and_number(rootfs: str) -> None:
    assert resolve_user(rootfs, "www", ["staff", "99", "wheel"]).additional_gids == (10, 50, 99)


def test_unknown_user_and_group(rootfs: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve_user(rootfs, "nobody")
    assert caught.value.message == "unable to find user nobody: no matching entries in passwd file"
    with pytest.raises(InvalidArgument, match="unable to find group nogroup: no matching entries in group file"):
        resolve_user(rootfs, "www:nogroup")
    with pytest.raises(InvalidArgument, match="out of range"):
        resolve_user(rootfs, "4294967296")


def test_missing_files_allow_numeric_ids_only(tmp_path: Any) -> None:
    empty = str(tmp_path)
    assert resolve_user(empty, "") == ExecUser(0, 0, (), "/")
    assert resolve_user(empty, "10:20") == ExecUser(10, 20, (), "/")
    with pytest.raises(InvalidArgument):
        resolve_user(empty, "root")


def test_absolute_symlink_to_host_passwd_stays_in_rootfs(tmp_path: Any) -> None:
    """/etc/passwd -> /etc/passwd would loop; -> /host-secret resolves inside the rootfs."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("evil:x:0:0::/:/bin/sh\n")
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    os.symlink(str(outside / "passwd"), str(rootfs / "etc" / "passwd"))
    assert read_rootfs_file(str(rootfs), "/etc/passwd") is None
    with pytest.raises(InvalidArgument, match="unable to find user evil"):
        resolve_user(str(rootfs), "evil")


def test_relative_symlink_cannot_climb_out(tmp_path: Any) -> None:
    (tmp_path / "passwd").write_text("evil:x:0:0::/:/bin/sh\n")
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    os.symlink("../../../../passwd", str(rootfs / "etc" / "passwd"))
    assert read_rootfs_file(str(rootfs), "/etc/passwd") is None
    (rootfs / "passwd").write_text("inside:x:1:1::/:/bin/sh\n")  # what ../../../../passwd means in the rootfs
    assert read_rootfs_file(str(rootfs), "/etc/passwd") == "inside:x:1:1::/:/bin/sh\n"


def test_symlinks_inside_the_rootfs_are_followed(tmp_path: Any) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "usr" / "etc").mkdir(parents=True)
    (rootfs / "usr" / "etc" / "passwd").write_text("app:x:9:9::/app:/bin/sh\n")
    os.symlink("/usr/etc", str(rootfs / "etc"))
    assert resolve_user(str(rootfs), "app") == ExecUser(9, 9, (), "/app")


def test_symlink_loop_is_an_error(tmp_path: Any) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    os.symlink("group", str(rootfs / "etc" / "passwd"))
    os.symlink("passwd", str(rootfs / "etc" / "group"))
    with pytest.raises(InvalidArgument, match="(?i)too many levels of symbolic links"):
        resolve_user(str(rootfs), "x")


def test_a_directory_or_fifo_is_not_read(tmp_path: Any) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc" / "passwd").mkdir(parents=True)
    os.mkfifo(str(rootfs / "etc" / "group"))
    assert read_rootfs_file(str(rootfs), "/etc/passwd") is None
    assert read_rootfs_file(str(rootfs), "/etc/group") is None


def test_malformed_lines_are_skipped(tmp_path: Any) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("# comment\nbroken\nbad:x:u:g::/:\nok:x:5:6::/:\n")
    assert resolve_user(str(tmp_path), "ok") == ExecUser(5, 6, (), "/")
