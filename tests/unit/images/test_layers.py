from __future__ import annotations

import errno
import io
import os
import stat
import tarfile
from typing import List, Tuple

import pytest
import zstandard

from rootless.config.paths import Paths
from rootless.errors import InvalidArgument
from rootless.images import layer_dirs, layer_tar
from rootless.images.layer_tar import apply_layer, clean_entry_name
from rootless.images.layers import unpack_layer
from rootless.images.types import chain_ids
from tests.unit.images.layertar import MTIME, LayerTar, sha256


@pytest.fixture(autouse=True)
def fake_devices(monkeypatch: pytest.MonkeyPatch) -> List[Tuple[str, int, int]]:
    """Record mknod calls; as non-root stand in for them with an empty file."""
    made: List[Tuple[str, int, int]] = []
    real_mknod = os.mknod

    def mknod(path: str, mode: int = 0o600, device: int = 0) -> None:
        made.append((path, mode, device))
        if os.geteuid() == 0:
            real_mknod(path, mode, device)
        else:
            open(path, "x").close()

    monkeypatch.setattr(layer_tar.os, "mknod", mknod)
    return made


@pytest.fixture
def owners(monkeypatch: pytest.MonkeyPatch) -> List[Tuple[object, int, int]]:
    """Record chown calls instead of making them (no root needed)."""
    calls: List[Tuple[object, int, int]] = []
    monkeypatch.setattr(layer_tar.os, "lchown", lambda p, u, g: calls.append((os.path.basename(p), u, g)))
    monkeypatch.setattr(layer_tar.os, "fchown", lambda fd, u, g: calls.append((fd, u, g)))
    return calls


def apply(data: bytes, root: str) -> Tuple[str, int]:
    os.makedirs(root, exist_ok=True)
    return apply_layer(io.BytesIO(data), root, "sha256:test")


@pytest.mark.parametrize("name,expected", [
    ("./etc/passwd", "etc/passwd"), ("etc/", "etc"), ("./", ""), (".", ""), ("a/../b", "b"),
    ("a//b/./c", "a/b/c"),
])
def test_clean_entry_name_normalises(name: str, expected: str) -> None:
    assert clean_entry_name(name, "L") == expected


@pytest.mark.parametrize("name,reason", [
    ("/etc/passwd", "absolute path"), ("../x", "escapes"), ("a/../../x", "escapes"), ("..", "escapes"),
    ("/../x", "absolute path"),
])
def test_clean_entry_name_refuses_escapes(name: str, reason: str) -> None:
    with pytest.raises(InvalidArgument, match=reason) as info:
        clean_entry_name(name, "sha256:abc")
    assert "sha256:abc" in str(info.value)


def test_apply_makes_every_kind_of_entry(tmp_path, owners) -> None:
    data = (LayerTar().dir("etc", 0o755).file("etc/passwd", b"root\n", 0o600, uid=1000, gid=1001)
            .file("bin/su", b"x", 0o4755).symlink("bin/sh", "busybox").hardlink("etc/pw2", "etc/passwd")
            .fifo("run/fifo", 0o620).dir("ro", 0o555).file("ro/inside", b"y").bytes())
    root = str(tmp_path / "diff")
    diff_id, size = apply(data, root)
    assert diff_id == sha256(data)
    assert size == len(b"root\n") + 2
    passwd = os.lstat(f"{root}/etc/passwd")
    assert stat.S_IMODE(passwd.st_mode) == 0o600 and passwd.st_mtime == MTIME
    assert open(f"{root}/etc/passwd", "rb").read() == b"root\n"
    assert stat.S_IMODE(os.lstat(f"{root}/bin/su").st_mode) == 0o4755
    assert os.readlink(f"{root}/bin/sh") == "busybox"
    assert os.lstat(f"{root}/etc/pw2").st_ino == passwd.st_ino
    assert stat.S_ISFIFO(os.lstat(f"{root}/run/fifo").st_mode)
    assert stat.S_IMODE(os.lstat(f"{root}/ro").st_mode) == 0o555
    assert os.lstat(f"{root}/etc").st_mtime == MTIME
    assert any(u == 1000 and g == 1001 for _, u, g in owners)


def test_new_entries_that_are_ours_already_are_not_chowned(tmp_path, owners) -> None:
    me = (os.geteuid(), os.getegid())
    other = (me[0] + 1, me[1] + 1)
    data = (LayerTar().dir("d", uid=me[0], gid=me[1]).file("d/mine", b"1", uid=me[0], gid=me[1])
            .file("d/theirs", b"2", uid=other[0], gid=other[1])
            .dir("again", uid=other[0], gid=other[1]).dir("again", uid=me[0], gid=me[1]).bytes())
    apply(data, str(tmp_path / "r"))
    # a fresh inode has our ids; a dir listed again keeps its earlier owner unless chowned back
    assert sorted((u, g) for _, u, g in owners) == sorted([other, other, me])
    assert ("again", me[0], me[1]) in owners


def test_under_a_setgid_root_every_entry_is_chowned(tmp_path, owners) -> None:
    root = tmp_path / "r"
    root.mkdir()
    os.chmod(root, 0o2755)  # new entries would take the root's group, not ours
    me = (os.geteuid(), os.getegid())
    apply(LayerTar().file("f", b"1", uid=me[0], gid=me[1]).symlink("s", "f").bytes(), str(root))
    assert len(owners) == 2


def test_chown_refused_for_unmapped_ids_is_tolerated(tmp_path, monkeypatch) -> None:
    def refuse(*args: object) -> None:
        raise OSError(errno.EINVAL, "Invalid argument")
    monkeypatch.setattr(layer_tar.os, "lchown", refuse)
    monkeypatch.setattr(layer_tar.os, "fchown", refuse)
    apply(LayerTar().dir("d", uid=70000).file("d/f", b"x", uid=70000).bytes(), str(tmp_path / "r"))
    assert (tmp_path / "r/d/f").read_bytes() == b"x"


def test_xattrs_are_set_but_overlay_ones_dropped(tmp_path, owners) -> None:
    data = LayerTar().file("f", b"x", xattrs={"user.comment": "hi", "user.overlay.redirect": "/etc"}).bytes()
    apply(data, str(tmp_path / "r"))
    path = str(tmp_path / "r/f")
    try:
        names = os.listxattr(path)
    except OSError:
        pytest.skip("no xattrs on this filesystem")
    assert os.getxattr(path, "user.comment") == b"hi"
    assert "user.overlay.redirect" not in names


def test_whiteouts_become_overlay_markers(tmp_path, owners, fake_devices) -> None:
    data = (LayerTar().dir("data").file("data/.wh.gone").dir("opq").file("opq/.wh..wh..opq")
            .file("opq/kept", b"k").file(".wh..wh.plnk").file("deep/dir/.wh.x").bytes())
    root = str(tmp_path / "r")
    apply(data, root)
    made = {os.path.relpath(p, root): (mode, dev) for p, mode, dev in fake_devices}
    assert made["data/gone"] == (stat.S_IFCHR, os.makedev(0, 0))
    assert "deep/dir/x" in made
    assert not os.path.lexists(f"{root}/data/.wh.gone")
    assert not os.path.lexists(f"{root}/.wh..wh.plnk")
    assert os.getxattr(f"{root}/opq", "user.overlay.opaque") == b"y"
    assert open(f"{root}/opq/kept", "rb").read() == b"k"


@pytest.mark.parametrize("build,reason", [
    (lambda t: t.file("../evil", b"x"), "escapes"),
    (lambda t: t.file("/etc/evil", b"x"), "absolute"),
    (lambda t: t.symlink("link", "/etc").file("link/evil", b"x"), "symlink"),
    (lambda t: t.symlink("link", "../..").file("link/evil", b"x"), "symlink"),
    (lambda t: t.hardlink("h", "../../etc/passwd"), "escapes"),
    (lambda t: t.hardlink("h", "/etc/passwd"), "absolute"),
    (lambda t: t.symlink("l", "/etc").hardlink("h", "l/passwd"), "symlink"),
    (lambda t: t.hardlink("h", "missing"), "not in this layer"),
    (lambda t: t.file("f", b"x").file("f/child", b"x"), "not a directory"),
    (lambda t: t.dir("d").symlink("d", "/").file("d/evil", b"x"), "symlink"),
])
def test_malicious_layers_are_refused_and_leave_nothing(tmp_path, owners, build, reason) -> None:
    paths = Paths(root=str(tmp_path / "store"), run=str(tmp_path / "run"))
    blob = tmp_path / "blob"
    blob.write_bytes(build(LayerTar().file("ok", b"ok")).gzip())
    with pytest.raises(InvalidArgument, match=reason) as info:
        unpack_layer(paths, str(blob), "sha256:" + "a" * 64, "sha256:" + "b" * 64, "sha256:" + "c" * 64)
    assert "sha256:" + "a" * 64 in str(info.value)
    assert os.listdir(paths.layers) == []
    assert not os.path.exists("/etc/evil")


def test_later_entries_replace_earlier_ones(tmp_path, owners) -> None:
    data = (LayerTar().file("x", b"file").dir("x").file("x/in", b"1").symlink("y", "x").file("y", b"2")
            .dir("z").file("z/a", b"a").file("z", b"zz").bytes())
    root = tmp_path / "r"
    apply(data, str(root))
    assert (root / "x/in").read_bytes() == b"1"
    assert not os.path.islink(root / "y") and (root / "y").read_bytes() == b"2"
    assert (root / "z").read_bytes() == b"zz"


def test_file_modes_data_and_repeated_symlinks(tmp_path, owners) -> None:
    big = bytes(range(256)) * ((3 << 20) // 256 + 7)  # several BUFSIZE chunks, not a multiple of one
    data = (LayerTar().file("none", b"0", 0o000).file("ro", b"r", 0o444).file("all", b"a", 0o777)
            .file("big", big, 0o640).symlink("l", "one").symlink("l", "two").bytes())
    root = tmp_path / "r"
    _, size = apply(data, str(root))
    modes = {n: stat.S_IMODE(os.lstat(root / n).st_mode) for n in ("none", "ro", "all", "big")}
    assert modes == {"none": 0o000, "ro": 0o444, "all": 0o777, "big": 0o640}
    assert (root / "big").read_bytes() == big and size == len(big) + 3
    assert os.readlink(root / "l") == "two" and os.lstat(root / "none").st_mtime == MTIME


def test_symlink_at_path_is_replaced_not_followed(tmp_path, owners) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"safe")
    data = LayerTar().symlink("f", str(outside)).file("f", b"overwritten").bytes()
    apply(data, str(tmp_path / "r"))
    assert outside.read_bytes() == b"safe"
    assert (tmp_path / "r/f").read_bytes() == b"overwritten"


@pytest.mark.parametrize("compress", [
    lambda raw: raw,
    lambda raw: __import__("gzip").compress(raw),
    lambda raw: zstandard.ZstdCompressor().compress(raw),
])
def test_diff_id_is_that_of_the_uncompressed_tar(tmp_path, owners, compress) -> None:
    raw = LayerTar().dir("a").file("a/b", b"data" * 1000).bytes()
    diff_id, _ = apply(compress(raw), str(tmp_path / "r"))
    assert diff_id == sha256(raw)
    assert (tmp_path / "r/a/b").read_bytes() == b"data" * 1000


def _unpadded_tar() -> bytes:
    """Like umoci: the last member has no padding and there are no end-of-archive blocks."""
    raw = LayerTar().file("a", b"first").file("b", b"last member").bytes()
    members = list(tarfile.open(fileobj=io.BytesIO(raw)))
    return raw[:members[-1].offset_data + members[-1].size]


def test_archive_without_end_blocks_is_accepted(tmp_path, owners) -> None:
    raw = _unpadded_tar()
    diff_id, _ = apply(raw, str(tmp_path / "r"))
    assert diff_id == sha256(raw)
    assert (tmp_path / "r/b").read_bytes() == b"last member"


def test_truncated_member_is_refused(tmp_path, owners) -> None:
    raw = _unpadded_tar()[:-3]
    with pytest.raises(InvalidArgument, match="sha256:test"):
        apply(raw, str(tmp_path / "r"))


def test_truncated_gzip_is_refused(tmp_path, owners) -> None:
    blob = LayerTar().file("a", os.urandom(5000)).gzip()
    with pytest.raises(InvalidArgument, match="corrupt"):
        apply(blob[:-100], str(tmp_path / "r"))


def test_unpack_checks_the_diff_id(tmp_path, owners) -> None:
    paths = Paths(root=str(tmp_path / "store"), run=str(tmp_path / "run"))
    blob = tmp_path / "blob"
    blob.write_bytes(LayerTar().file("a", b"x").gzip())
    with pytest.raises(InvalidArgument, match="diff id mismatch"):
        unpack_layer(paths, str(blob), "sha256:" + "a" * 64, "sha256:" + "b" * 64, "sha256:" + "c" * 64)
    assert os.listdir(paths.layers) == []


def test_unpack_publishes_diff_and_meta(tmp_path, owners) -> None:
    paths = Paths(root=str(tmp_path / "store"), run=str(tmp_path / "run"))
    raw = LayerTar().file("a", b"xyz").bytes()
    blob = tmp_path / "blob"
    blob.write_bytes(raw)
    chain = chain_ids([sha256(raw)])[0]
    diff = unpack_layer(paths, str(blob), sha256(raw), sha256(raw), chain)
    assert diff == layer_dirs.diff_dir(paths, chain)
    assert open(os.path.join(diff, "a"), "rb").read() == b"xyz"
    assert layer_dirs.is_unpacked(paths, chain) and layer_dirs.unpacked_size(paths, chain) == 3
    os.mkdir(os.path.join(paths.layers, "not-a-layer"))
    assert layer_dirs.remove_unreferenced(paths, {chain}, 3600) == 0
    assert layer_dirs.remove_unreferenced(paths, set(), 3600) == 3
    assert not layer_dirs.is_unpacked(paths, chain)
    assert sorted(os.listdir(paths.layers)) == [".trash", "not-a-layer"]  # deleted through the trash
    assert os.listdir(layer_dirs.trash_dir(paths)) == []


def test_detect_compression() -> None:
    assert layer_tar.detect_compression(b"\x1f\x8b\x08\x00") == "gzip"
    assert layer_tar.detect_compression(b"\x28\xb5\x2f\xfd") == "zstd"
    assert layer_tar.detect_compression(b"etc/") == "none"


@pytest.mark.parametrize("compress", [
    lambda raw: raw,
    lambda raw: __import__("gzip").compress(raw),
    lambda raw: zstandard.ZstdCompressor().compress(raw),
])
def test_open_uncompressed_reads_in_any_sizes(compress) -> None:
    import contextlib

    raw = bytes(range(256)) * 40
    with contextlib.ExitStack() as stack:
        reader = layer_tar.open_uncompressed(io.BytesIO(compress(raw)), stack)
        # 1 and 3 bytes reach into the 4 sniffed bytes given back before the rest of the stream.
        parts = [reader.read(1), reader.read(3), reader.read(1000), reader.read()]
    assert b"".join(parts) == raw


def test_uncompressed_stream_refuses_seek() -> None:
    import contextlib

    with contextlib.ExitStack() as stack:
        reader = layer_tar.open_uncompressed(io.BytesIO(b"plain tar bytes"), stack)
        with pytest.raises(io.UnsupportedOperation):
            reader.seek(0)  # type: ignore[attr-defined]


def test_empty_trash_takes_an_older_versions_entries_and_keeps_the_journal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The trash moved onto util/trash.py (<hex>-<rand> names); what an older daemon left (<hex>.<ns>) goes too."""
    paths = Paths(root=str(tmp_path / "store"), run=str(tmp_path / "run"))
    old_entry = os.path.join(layer_dirs.trash_dir(paths), "a" * 64 + ".1700000000000000000")
    os.makedirs(os.path.join(old_entry, "diff", "ro"))
    os.chmod(os.path.join(old_entry, "diff", "ro"), 0o555)
    with open(layer_dirs.journal_path(paths), "w") as f:
        f.write('{"blobs": [], "layers": []}')
    layer = os.path.join(paths.layers, "b" * 64)
    os.makedirs(os.path.join(layer, "diff"))
    assert layer_dirs.trash_layers(paths, ["sha256:" + "b" * 64]) == 0
    assert not os.path.exists(layer)
    assert layer_dirs.empty_trash(paths) == 2
    assert os.listdir(layer_dirs.trash_dir(paths)) == [layer_dirs.JOURNAL]
