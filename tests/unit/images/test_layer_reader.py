"""images/layer_reader.py: the lean tar reader, against tarfile on good archives and on hostile ones."""
from __future__ import annotations

import hashlib
import io
import os
import random
import tarfile
from typing import Dict, List, Optional, Tuple

import pytest

from rootless.errors import InvalidArgument
from rootless.images.layer_reader import SPECIAL_MAX, TarReader

BLOCK = 512


def info(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, **fields: object) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type, entry.size, entry.mtime = kind, size, 1700000000
    for key, value in fields.items():
        setattr(entry, key, value)
    return entry


def archive(entries: List[Tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for entry, data in entries:
            tar.addfile(entry, io.BytesIO(data) if data else None)
    return buf.getvalue()


def read(data: bytes) -> List[Tuple[object, ...]]:
    reader = TarReader(io.BytesIO(data), "can't unpack layer: L")
    out = []
    for entry in reader:
        content = b"".join(bytes(piece) for piece in reader.data())
        out.append((entry.name, entry.type, entry.mode, entry.uid, entry.gid, entry.size, entry.mtime,
                    entry.linkname, entry.devmajor, entry.devminor, content))
    return out


def read_with_tarfile(data: bytes) -> List[Tuple[object, ...]]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
        for m in tar:
            content = tar.extractfile(m).read() if m.isreg() else b""  # type: ignore[union-attr]
            out.append((m.name, m.type, m.mode, m.uid, m.gid, m.size if m.isreg() else 0, m.mtime, m.linkname,
                        m.devmajor if m.ischr() or m.isblk() else 0, m.devminor if m.ischr() or m.isblk() else 0,
                        content))
    return out


def header(name: str = "f", size: int = 0, kind: bytes = b"0", raw: Optional[Dict[str, bytes]] = None) -> bytearray:
    """One ustar header, with raw bytes put in named fields, and a valid checksum."""
    block = bytearray(tarfile.TarInfo(name).tobuf(tarfile.USTAR_FORMAT))
    offsets = {"mode": (100, 8), "uid": (108, 8), "size": (124, 12), "mtime": (136, 12), "type": (156, 1)}
    raw = {"size": b"%011o\0" % size, "type": kind, **(raw or {})}
    for field, value in raw.items():
        start, length = offsets[field]
        block[start:start + length] = value.ljust(length, b"\0")[:length]
    return fix_checksum(block)


def fix_checksum(block: bytearray) -> bytearray:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return block


def padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % BLOCK)


def record(key: str, value: bytes) -> bytes:
    """One pax record with its length right."""
    body = b" " + key.encode() + b"=" + value + b"\n"
    digits = next(n for n in range(1, 10) if len(str(len(body) + n)) == n)  # the length counts itself
    return b"%d" % (len(body) + digits) + body


def pax(records: bytes, kind: bytes = b"x") -> bytes:
    return bytes(header("././@PaxHeader", len(records), kind)) + padded(records)


END = bytes(2 * BLOCK)


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_reads_what_tarfile_reads(fmt: int) -> None:
    long = "d/" + "n" * 150 if fmt != tarfile.USTAR_FORMAT else "p" * 90 + "/" + "n" * 90
    entries = [
        (info("dir", tarfile.DIRTYPE, mode=0o755), b""),
        (info(long, size=5, uid=1000, gid=50, mode=0o4755), b"hello"),
        (info("dir/é\udcff" if fmt != tarfile.USTAR_FORMAT else "dir/e", size=3000), b"x" * 3000),
        (info("link", tarfile.SYMTYPE, linkname="t" * (120 if fmt != tarfile.USTAR_FORMAT else 90)), b""),
        (info("hard", tarfile.LNKTYPE, linkname="dir"), b""),
        (info("null", tarfile.CHRTYPE, devmajor=1, devminor=3), b""),
        (info("fifo", tarfile.FIFOTYPE), b""),
        (info("big-ids", uid=3_000_000 if fmt != tarfile.USTAR_FORMAT else 7, mtime=2 ** 34 if fmt != tarfile.USTAR_FORMAT else 5), b""),
    ]
    data = archive(entries, fmt)
    assert read(data) == read_with_tarfile(data)
    assert len(read(data)) == len(entries)


def test_pax_records_override_header_fields_and_xattrs_come_through() -> None:
    entry = info("short", size=2, pax_headers={"path": "a/much/longer/name", "mtime": "1700000000.25",
                                               "SCHILY.xattr.user.k": "v", "uid": "123456789"})
    data = archive([(entry, b"ab")])
    reader = TarReader(io.BytesIO(data), "L")
    got = next(iter(reader))
    assert (got.name, got.mtime, got.uid) == ("a/much/longer/name", 1700000000.25, 123456789)
    assert got.pax_headers["SCHILY.xattr.user.k"] == "v"
    assert b"".join(bytes(p) for p in reader.data()) == b"ab"


@pytest.mark.parametrize("tail", [
    b"",                                       # no end-of-archive blocks (umoci)
    bytes(BLOCK),                              # one zero block
    END + b"anything after the two blocks",    # ignored, as by Go and tarfile (still in the DiffID)
])
def test_ends_of_archive_that_are_accepted(tail: bytes) -> None:
    data = archive([(info("a", size=3), b"abc")])[:BLOCK + 3]  # a's header and data, no padding
    assert [e[0] for e in read(data + (bytes(BLOCK - 3) + tail if tail else b""))] == ["a"]


@pytest.mark.parametrize("data, reason", [
    (bytes(header()[:-1]), "truncated header"),
    (bytes(header(size=10)) + b"short", "unexpected end of data"),
    (bytes(header()) + bytes(BLOCK) + bytes(header()), "after an end-of-archive block"),
    (bytes(header())[:148] + b"0000000\0" + bytes(header())[156:], "checksum"),
    (pax(record("path", b"never-used")) + END, "without its entry"),
])
def test_truncated_or_malformed_archives_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidArgument, match=reason):
        read(data)


@pytest.mark.parametrize("field, value", [
    ("size", b"+0000001\0"), ("size", b"-1\0"), ("size", b"0o17\0"), ("size", b"1_0\0"), ("size", b"9\0"),
    ("uid", b"12a\0"), ("mode", b"\xe9\0"), ("mtime", b"0x10\0"),
])
def test_numeric_fields_are_octal_digits_only(field: str, value: bytes) -> None:
    with pytest.raises(InvalidArgument, match="not an octal number"):
        read(bytes(header(raw={field: value})) + END)


def test_base256_numbers_are_read() -> None:
    size = b"\x80" + (5).to_bytes(11, "big")
    assert read(bytes(header(raw={"size": size})) + padded(b"12345") + END)[0][5] == 5


def test_base256_numbers_beyond_what_syscalls_take_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="out of range"):
        read(bytes(header(raw={"uid": b"\x80" + (1 << 40).to_bytes(7, "big")})) + END)


@pytest.mark.parametrize("records, reason", [
    (b"19 path=no-newline", "pax record"),
    (b"99 path=x\n", "pax record"),            # longer than the header
    (b"3 path=x\n", "pax record"),             # shorter than the record
    (b"0 \n", "pax record length"),
    (b"x path=x\n", "pax record length"),
    (b"11 pathx\n\n", "pax record"),            # no '='
    (record("size", b"-5"), "not a number"),
    (record("uid", "\u0663\u0663".encode()), "not a number"),  # Arabic-Indic digits: digits to str.isdigit
    (record("mtime", b"nan"), "not a time"),
    (record("size", b"7" * 5000), "not a number"),  # int() of it would raise ValueError (4300-digit limit)
    (record("mtime", b"9" * 5000), "not a time"),
    (record("uid", b"%d" % (1 << 32)), "out of range"),  # lchown would raise OverflowError
    (record("mtime", b"%d" % (1 << 41)), "out of range"),
    (record("GNU.sparse.major", b"1"), "sparse"),
    (record("path", b"a\0b"), "NUL"),
])
def test_bad_pax_records_are_refused(records: bytes, reason: str) -> None:
    with pytest.raises(InvalidArgument, match=reason):
        read(pax(records) + bytes(header()) + END)


def test_special_headers_have_a_size_limit_and_are_not_read_beyond_it() -> None:
    for kind in (b"x", b"L"):
        data = bytes(header("@", SPECIAL_MAX + 1, kind))  # no data follows: the size alone refuses
        with pytest.raises(InvalidArgument, match="at most"):
            read(data)


def test_gnu_sparse_members_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="sparse"):
        read(bytes(header(kind=b"S")) + END)


def test_global_pax_headers_are_skipped_as_docker_does() -> None:
    data = pax(record("path", b"other"), kind=b"g") + bytes(header("f")) + END
    assert [e[0] for e in read(data)] == ["f"]


def test_size_of_header_only_types_is_not_data() -> None:
    """A symlink's size field does not make the next header data (Go and tarfile agree)."""
    data = bytes(header("l", kind=b"2", size=700)) + bytes(header("f", size=1)) + padded(b"x") + END
    assert [(e[0], e[5], e[10]) for e in read(data)] == [("l", 0, b""), ("f", 1, b"x")]


def test_unknown_types_come_back_with_their_data_skipped() -> None:
    data = bytes(header("v", kind=b"V", size=600)) + padded(b"v" * 600) + bytes(header("f")) + END
    assert [(e[0], e[1]) for e in read(data)] == [("v", b"V"), ("f", b"0")]


def test_random_damage_is_refused_cleanly_or_read() -> None:
    """Flipped bytes anywhere (checksums fixed up, so field parsing is reached): InvalidArgument or entries."""
    good = archive([(info("d", tarfile.DIRTYPE), b""), (info("f" * 120, size=700, pax_headers={"x": "y"}), b"z" * 700),
                    (info("l", tarfile.SYMTYPE, linkname="f"), b"")], tarfile.PAX_FORMAT)
    rnd = random.Random(1)
    outcomes = {"read": 0, "refused": 0}
    for _ in range(3000):
        data = bytearray(good)
        for _flip in range(rnd.randint(1, 4)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        for start in range(0, len(data) - BLOCK + 1, BLOCK):
            if rnd.random() < 0.8 and data[start + 257:start + 262] == b"ustar":
                data[start:start + BLOCK] = fix_checksum(data[start:start + BLOCK])
        try:
            read(bytes(data[:rnd.randrange(len(data) + 1)] if rnd.random() < 0.2 else data))
            outcomes["read"] += 1
        except InvalidArgument:
            outcomes["refused"] += 1
    assert outcomes["read"] and outcomes["refused"]


def test_data_pieces_come_in_order_across_source_reads() -> None:
    payload = bytes(range(256)) * 4000  # ~1 MB: several of the reader's chunks
    data = archive([(info("a", size=len(payload)), payload), (info("b", size=3), b"end")])
    got = read(data)
    assert got[0][10] == payload and got[1][10] == b"end"


def test_an_empty_stream_is_an_empty_layer_as_in_go() -> None:
    assert read(b"") == [] and read(END) == []


def test_a_layer_with_a_bad_header_is_refused_and_leaves_nothing(tmp_path) -> None:
    """tarfile took a bad checksum for the end of the archive: the rest was silently not applied."""
    import gzip

    from rootless.config.paths import Paths
    from rootless.images.layers import unpack_layer

    good = archive([(info("a", size=1), b"a"), (info("b", size=1), b"b")], tarfile.USTAR_FORMAT)
    bad = bytearray(good)
    bad[2 * BLOCK] ^= 0x01  # b's header: its name, so its checksum no longer matches
    paths = Paths(root=str(tmp_path / "store"), run=str(tmp_path / "run"))
    blob = tmp_path / "blob"
    blob.write_bytes(gzip.compress(bytes(bad)))
    digest = "sha256:" + "a" * 64
    diff_id = "sha256:" + hashlib.sha256(bytes(bad)).hexdigest()  # the config vouches for these bytes
    with pytest.raises(InvalidArgument, match="bad header checksum"):
        unpack_layer(paths, str(blob), digest, diff_id, "sha256:" + "c" * 64)
    assert os.listdir(paths.layers) == []
