"""engine/container_fs.py: docker cp and export never read or write outside the rootfs (issue 7)."""
from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from rootless.engine import container_fs
from rootless.engine.container_model import MountPoint
from rootless.errors import Conflict, InvalidArgument, NotFound
from tests.unit.swap_race import swapping

UID, GID = os.getuid(), os.getgid()


@pytest.fixture()
def box(tmp_path: Path) -> Tuple[Path, Path]:
    """(rootfs, host): the rootfs holds links aimed at the host's files, as a hostile image would."""
    host = tmp_path / "home"
    (host / "victimdir").mkdir(parents=True)
    (host / "victimdir").chmod(0o700)
    (host / ".bashrc").write_text("the user's bashrc\n")
    rootfs = tmp_path / "rootfs"
    (rootfs / "tmp").mkdir(parents=True)
    os.symlink(str(host / ".bashrc"), rootfs / "tmp" / "notes.txt")
    os.symlink(str(host / "victimdir"), rootfs / "tmp" / "mydir")
    os.symlink("../../../../../../../../home", rootfs / "tmp" / "up")
    (rootfs / "home" / "victimdir").mkdir(parents=True)  # where "up" leads, inside
    return rootfs, host


def make_tar(entries: List[Tuple[str, str, Optional[str]]]) -> io.BytesIO:
    """(name, kind, data or link target) with kind file|dir|sym|hard."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, kind, value in entries:
            info = tarfile.TarInfo(name)
            info.uid, info.gid, info.mtime = UID, GID, 1_000_000
            info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE,
                         "hard": tarfile.LNKTYPE}[kind]
            info.mode = 0o777 if kind == "dir" else 0o644
            if kind in ("sym", "hard"):
                info.linkname = value or ""
                tar.addfile(info)
            else:
                data = (value or "").encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    return out


def host_untouched(host: Path) -> None:
    assert (host / ".bashrc").read_text() == "the user's bashrc\n"
    assert stat.S_IMODE((host / "victimdir").stat().st_mode) == 0o700
    assert os.listdir(host / "victimdir") == []


def test_file_over_a_symlink_to_a_host_file_replaces_the_link(box: Tuple[Path, Path]) -> None:
    rootfs, host = box
    container_fs.extract_into(container_fs.View(str(rootfs)), "/tmp/", make_tar([("notes.txt", "file", "evil\n")]), False)
    host_untouched(host)
    assert not (rootfs / "tmp" / "notes.txt").is_symlink()
    assert (rootfs / "tmp" / "notes.txt").read_text() == "evil\n"


def test_directory_over_a_symlink_to_a_host_dir_replaces_the_link(box: Tuple[Path, Path]) -> None:
    rootfs, host = box
    body = make_tar([("mydir", "dir", None), ("mydir/planted", "file", "x")])
    container_fs.extract_into(container_fs.View(str(rootfs)), "/tmp", body, False)
    host_untouched(host)
    assert (rootfs / "tmp" / "mydir" / "planted").read_text() == "x"
    assert stat.S_IMODE((rootfs / "tmp" / "mydir").stat().st_mode) == 0o777


def test_symlink_entry_then_file_entry_of_the_same_name(box: Tuple[Path, Path]) -> None:
    rootfs, host = box
    body = make_tar([("f", "sym", str(host / ".bashrc")), ("f", "file", "evil\n"),
                     ("d", "sym", str(host / "victimdir")), ("d/planted", "file", "x")])
    container_fs.extract_into(container_fs.View(str(rootfs)), "/tmp", body, False)
    host_untouched(host)
    assert (rootfs / "tmp" / "f").read_text() == "evil\n"
    # d/planted went where d points to inside the rootfs, not on the host
    assert (rootfs / str(host / "victimdir").lstrip("/") / "planted").read_text() == "x"


def test_parents_resolve_inside_the_rootfs(box: Tuple[Path, Path]) -> None:
    rootfs, host = box
    container_fs.extract_into(container_fs.View(str(rootfs)), "/tmp/up/victimdir", make_tar([("a", "file", "x")]), False)
    host_untouched(host)
    assert (rootfs / "home" / "victimdir" / "a").exists()


@pytest.mark.parametrize("entries", [
    [("../escape", "file", "x")],
    [("a/../../escape", "file", "x")],
    [("h", "hard", "../../etc/passwd")],
])
def test_entries_climbing_out_are_refused(box: Tuple[Path, Path], entries: Any) -> None:
    rootfs, _ = box
    with pytest.raises(InvalidArgument, match="outside the target"):
        container_fs.extract_into(container_fs.View(str(rootfs)), "/tmp", make_tar(entries), False)
    assert not (rootfs / "escape").exists()


def test_hard_link_to_a_symlink_links_the_symlink(box: Tuple[Path, Path]) -> None:
    rootfs, host = box
    container_fs.extract_into(container_fs.View(str(rootfs)), "/tmp", make_tar([("h", "hard", "notes.txt")]), False)
    assert os.readlink(rootfs / "tmp" / "h") == str(host / ".bashrc")
    host_untouched(host)


def test_no_overwrite_dir_non_dir(box: Tuple[Path, Path]) -> None:
    rootfs, _ = box
    (rootfs / "tmp" / "adir").mkdir()
    with pytest.raises(InvalidArgument, match="cannot overwrite directory"):
        container_fs.extract_into(container_fs.View(str(rootfs)), "/tmp", make_tar([("adir", "file", "x")]), True)
    container_fs.extract_into(container_fs.View(str(rootfs)), "/tmp", make_tar([("adir", "file", "x")]), False)
    assert (rootfs / "tmp" / "adir").read_text() == "x"


def test_missing_or_non_directory_target(box: Tuple[Path, Path]) -> None:
    rootfs, _ = box
    with pytest.raises(NotFound):
        container_fs.extract_into(container_fs.View(str(rootfs)), "/nope", make_tar([]), False)
    with pytest.raises(NotFound):  # a symlink to the host's dir resolves inside the rootfs: missing there
        container_fs.extract_into(container_fs.View(str(rootfs)), "/tmp/mydir", make_tar([]), False)
    (rootfs / "file").write_text("")
    with pytest.raises(InvalidArgument, match="not a directory"):
        container_fs.extract_into(container_fs.View(str(rootfs)), "/file", make_tar([]), False)


def read_tar(chunks: Any) -> Dict[str, Tuple[str, bytes]]:
    found = {}
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        for member in tar:
            data = tar.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            found[member.name] = (member.linkname if member.issym() or member.islnk() else "", data)
    return found


def test_tar_stream_never_reads_through_symlinks(box: Tuple[Path, Path]) -> None:
    rootfs, host = box
    (rootfs / "tmp" / "real").write_text("inside")
    os.link(rootfs / "tmp" / "real", rootfs / "tmp" / "twin")
    found = read_tar(container_fs.tar_stream(container_fs.View(str(rootfs)), "/tmp", "tmp"))
    assert found["tmp/notes.txt"] == (str(host / ".bashrc"), b"")
    assert found["tmp/mydir"] == (str(host / "victimdir"), b"")
    assert found["tmp/real"] == ("", b"inside") and found["tmp/twin"] == ("tmp/real", b"")
    assert b"the user's bashrc\n" not in b"".join(data for _, data in found.values())
    single = read_tar(container_fs.tar_stream(container_fs.View(str(rootfs)), "/tmp/notes.txt", "notes.txt"))
    assert single == {"notes.txt": (str(host / ".bashrc"), b"")}
    with pytest.raises(NotFound):  # a trailing slash follows the link, inside the rootfs
        list(container_fs.tar_stream(container_fs.View(str(rootfs)), "/tmp/mydir/", "mydir"))


def test_export_has_no_entry_for_the_top(box: Tuple[Path, Path]) -> None:
    rootfs, _ = box
    names = sorted(read_tar(container_fs.tar_stream(container_fs.View(str(rootfs)), "/", "")))
    assert names == ["home", "home/victimdir", "tmp", "tmp/mydir", "tmp/notes.txt", "tmp/up"]


def test_path_stat_of_links(box: Tuple[Path, Path]) -> None:
    rootfs, host = box
    info = container_fs.path_stat(container_fs.View(str(rootfs)), "/tmp/notes.txt", "c")
    assert info["linkTarget"] == str(host / ".bashrc") and info["mode"] & (1 << 27)
    assert container_fs.path_stat(container_fs.View(str(rootfs)), "/tmp/up/", "c")["mode"] & (1 << 31)
    with pytest.raises(NotFound, match="Could not find the file /tmp/mydir/ in container c"):
        container_fs.path_stat(container_fs.View(str(rootfs)), "/tmp/mydir/", "c")


def test_tar_stream_during_a_rename_exchange_race(box: Tuple[Path, Path]) -> None:
    """A thread swaps a file and a directory with symlinks to host files (renameat2 RENAME_EXCHANGE)."""
    rootfs, host = box
    (host / "secret").write_text("HOST-SECRET")
    race = rootfs / "race"
    (race / "d" / "a").mkdir(parents=True)
    (race / "d" / "a" / "planted").write_text("planted")
    (race / "f").write_text("inside")
    os.symlink(str(host / "secret"), race / "fl")
    os.symlink(str(host), race / "d" / "al")
    pairs = [(bytes(race / "f"), bytes(race / "fl")), (bytes(race / "d" / "a"), bytes(race / "d" / "al"))]
    with swapping(pairs):
        for _ in range(200):
            for path in ("/race/f", "/race/d"):
                data = b"".join(container_fs.tar_stream(container_fs.View(str(rootfs)), path, "x"))
                assert b"HOST-SECRET" not in data
                with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                    for member in tar:
                        assert not member.name.startswith(("x/a/", "x/al/")) or member.name.endswith("planted")


def test_a_stopped_containers_view_takes_the_longest_mount_and_stays_in_it(tmp_path: Any) -> None:
    """Issue 11: /data/x is the volume's x; a symlink in the volume resolves in the volume, never the host."""
    rootfs, volume, inner = tmp_path / "rootfs", tmp_path / "vol", tmp_path / "inner"
    for path in (rootfs / "data", volume, inner):
        path.mkdir(parents=True)
    (volume / "v.txt").write_text("volume\n")
    (inner / "i.txt").write_text("inner\n")
    (volume / "toroot").symlink_to("/")
    (volume / "up").symlink_to("../../..")
    hostname = tmp_path / "hostname"
    hostname.write_text("box\n")
    table = container_fs.mount_table(
        [MountPoint("/data", str(volume), "v", "volume"), MountPoint("/data/inner/", str(inner), "", "bind", True)],
        {"/etc/hostname": str(hostname), "/etc/hosts": str(tmp_path / "missing")})
    assert sorted(table) == ["/data", "/data/inner", "/etc/hostname"]
    view = container_fs.View(str(rootfs), table)
    assert view.place("data/../data/v.txt") == (str(volume), "/v.txt", False)
    assert view.place("/data/inner/") == (str(inner), "/", True)
    assert view.place("/etc/hostname") == (str(tmp_path), "hostname", False)
    assert view.place("/datax") == (str(rootfs), "/datax", False)
    assert container_fs.path_stat(view, "/etc/hostname", "c")["size"] == 4
    assert sorted(read_tar(container_fs.tar_stream(view, "/data/v.txt", "v.txt"))) == ["v.txt"]
    for escape in ("/data/toroot/v.txt", "/data/up/v.txt"):  # "/" and "../../.." are the volume's top
        assert container_fs.path_stat(view, escape, "c")["size"] == len("volume\n")
    with pytest.raises(NotFound):
        container_fs.path_stat(view, f"/data/up/{str(hostname).lstrip('/')}", "c")
    with pytest.raises(Conflict):
        container_fs.extract_into(view, "/data/inner", make_tar([("a", "file", "x")]), False)
    container_fs.extract_into(view, "/data", make_tar([("new.txt", "file", "x")]), False)
    assert (volume / "new.txt").read_text() == "x" and not (rootfs / "data" / "new.txt").exists()


def test_a_stopped_containers_parent_directory_splices_its_mounts_in_and_out(tmp_path: Any) -> None:
    """docker cp box:/ . and docker cp dir box:/ with a volume at /data: the volume's files, not those beneath."""
    rootfs, volume = tmp_path / "rootfs", tmp_path / "vol"
    (rootfs / "data").mkdir(parents=True)
    (rootfs / "data" / "hidden.txt").write_text("beneath the mount\n")
    (rootfs / "etc").mkdir()
    (rootfs / "etc" / "hostname").write_text("")
    volume.mkdir()
    (volume / "v.txt").write_text("volume\n")
    hostname = tmp_path / "hostname"
    hostname.write_text("box\n")
    view = container_fs.View(str(rootfs), container_fs.mount_table(
        [MountPoint("/data", str(volume), "v", "volume")],
        {"/etc/hostname": str(hostname)}))
    found = read_tar(container_fs.tar_stream(view, "/", "."))
    assert "./data/v.txt" in found and "./data/hidden.txt" not in found
    assert found["./etc/hostname"][1] == b"box\n"
    container_fs.extract_into(view, "/", make_tar([("data/new.txt", "file", "x"), ("top.txt", "file", "y")]), False)
    assert (volume / "new.txt").read_text() == "x" and not (rootfs / "data" / "new.txt").exists()
    assert (rootfs / "top.txt").read_text() == "y"
    with pytest.raises(InvalidArgument):
        container_fs.extract_into(view, "/etc", make_tar([("hostname", "file", "evil")]), False)
    with pytest.raises(InvalidArgument):
        container_fs.extract_into(view, "/", make_tar([("data", "file", "x")]), False)
    assert hostname.read_text() == "box\n"
