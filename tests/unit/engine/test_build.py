"""engine/build.py's pure parts: the docker CLI's unterminated context tar, the /etc mount points a layer leaves out."""
from __future__ import annotations

import io
import os
import tarfile
from typing import Dict

import pytest

from rootless.engine.build import _ZeroPadded, engine_mount_points
from rootless.runtime.storage.changes import layer_tar_bytes


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


def tree(root: str, files: Dict[str, str]) -> str:
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
    return root


def test_crun_made_etc_mount_points_are_left_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lower = tree(str(tmp_path / "lower"), {"etc/passwd": "root\n"})
    upper = tree(str(tmp_path / "upper"), {"etc/hosts": "", "etc/hostname": "", "etc/resolv.conf": "", "x": "x\n"})
    skip = engine_mount_points(upper, [lower])
    assert skip == {"etc", "etc/hosts", "etc/hostname", "etc/resolv.conf"}
    with tarfile.open(fileobj=io.BytesIO(layer_tar_bytes(upper, skip))) as layer:
        assert layer.getnames() == ["x"]


def test_real_etc_changes_stay(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lower = tree(str(tmp_path / "lower"), {"etc/hostname": "image\n"})
    upper = tree(str(tmp_path / "upper"), {"etc/hosts": "127.0.0.1 x\n", "etc/hostname": "", "etc/resolv.conf": "",
                                           "etc/new": "n\n"})
    # hosts has content, hostname is the image's (emptied), new is a real change: /etc stays
    assert engine_mount_points(upper, [lower]) == {"etc/resolv.conf"}
    assert engine_mount_points(str(tmp_path / "lower"), []) == frozenset()
