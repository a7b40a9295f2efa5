"""engine/build.py's pure parts: the docker CLI's unterminated context tar."""
from __future__ import annotations

import io
import tarfile

import pytest

from rootless.engine.build import _ZeroPadded


def unterminated_tar() -> bytes:
    """What the docker CLI sends with -f outside the context: no padding after the last file, no end blocks."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("app.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"app\n"))
    return out.getvalue()[:512 + 4]  # the header and the data, nothing after


def test_an_unterminated_tar_reads_to_its_end() -> None:
    data = unterminated_tar()
    with pytest.raises(tarfile.ReadError):
        list(tarfile.open(fileobj=io.BytesIO(data), mode="r|*"))
    with tarfile.open(fileobj=_ZeroPadded(io.BytesIO(data)), mode="r|*") as tar:  # type: ignore[call-overload]
        members = [(m.name, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]
    assert members == [("app.txt", b"app\n")]
