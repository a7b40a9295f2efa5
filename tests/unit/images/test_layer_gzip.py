"""The gzip layer reader with each inflater: ISA-L (isal, the default where installed) and zlib.

A platform without isal's wheel is the real fallback; here it is made by
hiding the package (sys.modules["isal"] = None makes its import fail).
"""
from __future__ import annotations

import gzip
import io
import os
import sys
import zlib

import pytest

from rootless.errors import InvalidArgument
from rootless.images import layer_tar
from rootless.images.layer_tar import apply_layer
from tests.unit.images.layertar import LayerTar, sha256

pytest.importorskip("isal", reason="isal is a dependency where it has wheels (pyproject.toml)")

MEMBER = gzip.compress(bytes(range(256)) * 9000 + b"y" * (3 << 20))


@pytest.fixture(params=["isal", "zlib"])
def inflater(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "zlib":
        monkeypatch.setitem(sys.modules, "isal", None)
    return str(request.param)


def read_all(blob: bytes, step: int = 7 << 10) -> bytes:
    reader = layer_tar._GzipReader(io.BytesIO(blob))
    return b"".join(iter(lambda: reader.read(step), b""))


def test_isal_is_chosen_where_installed_and_zlib_otherwise(inflater) -> None:
    inflate, error = layer_tar._gzip_inflater()
    assert type(inflate).__module__.startswith("isal") == (inflater == "isal")
    assert (error is zlib.error) == (inflater == "zlib")


@pytest.mark.parametrize("padding, second_member", [(b"", False), (b"\0" * 10, False), (b"", True),
                                                    (b"\0" * 3, True)])
def test_gzip_reader_reads_members_and_padding_like_gzipfile(inflater, padding, second_member) -> None:
    blob = MEMBER + padding + (MEMBER if second_member else b"")
    expected = gzip.GzipFile(fileobj=io.BytesIO(blob)).read()
    assert read_all(blob) == expected and layer_tar._GzipReader(io.BytesIO(blob)).read() == expected


def test_member_boundary_at_every_input_step(inflater, monkeypatch) -> None:
    """A member that ends right at, before or after the end of one input read."""
    small = gzip.compress(b"a" * 1000) + gzip.compress(b"b" * 1000)
    for step in range(1, len(small) + 1, 3):
        monkeypatch.setattr(layer_tar._GzipReader, "INPUT", step)
        assert read_all(small, 333) == b"a" * 1000 + b"b" * 1000, step


@pytest.mark.parametrize("blob, error", [
    (gzip.compress(b"x" * 100000)[:-3], EOFError),
    (gzip.compress(b"x")[:8], EOFError),
    (gzip.compress(b"x") + b"junk", zlib.error),
    (gzip.compress(b"x") + b"\0\0" + b"junk", zlib.error),
    (b"\x1f\x8b\x08\x00" + os.urandom(200), zlib.error),
])
def test_gzip_reader_refuses_truncated_or_trailing_junk(inflater, blob, error) -> None:
    with pytest.raises(error):
        read_all(blob)


def test_crc_and_length_of_each_member_are_checked(inflater) -> None:
    for position in (-8, -4):  # the trailer: CRC-32, then ISIZE
        bad = bytearray(MEMBER)
        bad[position] ^= 0x01
        with pytest.raises(zlib.error):
            read_all(bytes(bad))


def test_output_is_bounded_per_read(inflater) -> None:
    """A gzip bomb (~1000:1) still comes out in pieces no bigger than asked."""
    bomb = gzip.compress(b"\0" * (64 << 20), 9)
    reader = layer_tar._GzipReader(io.BytesIO(bomb))
    sizes = [len(chunk) for chunk in iter(lambda: reader.read(256 << 10), b"")]
    assert max(sizes) <= 256 << 10 and sum(sizes) == 64 << 20


def test_corrupt_layer_is_refused_with_either_inflater(inflater, tmp_path) -> None:
    raw = LayerTar().file("a", os.urandom(5000)).bytes()
    good = gzip.compress(raw)
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    os.mkdir(tmp_path / "bad")
    with pytest.raises(InvalidArgument, match="corrupt"):
        apply_layer(io.BytesIO(bytes(bad)), str(tmp_path / "bad"), "sha256:test")
    os.mkdir(tmp_path / "ok")
    assert apply_layer(io.BytesIO(good), str(tmp_path / "ok"), "sha256:test")[0] == sha256(raw)
