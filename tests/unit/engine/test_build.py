"""engine/build.py's pure parts: the docker CLI's unterminated context tar, X-Registry-Config."""
from __future__ import annotations

import base64
import io
import json
import tarfile

import pytest

from rootless.engine.build import _ZeroPadded, decode_registry_config
from rootless.errors import InvalidArgument


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


def test_registry_config_header() -> None:
    header = base64.urlsafe_b64encode(json.dumps({"r.example:5000": {"username": "u", "password": "p",
                                                                     "email": ""}}).encode()).decode()
    assert decode_registry_config(header) == {"r.example:5000": {"username": "u", "password": "p"}}
    assert decode_registry_config("e30=") == {} and decode_registry_config(None) == {}
    with pytest.raises(InvalidArgument, match="X-Registry-Config"):
        decode_registry_config("not base64 json!")
