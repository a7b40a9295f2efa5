"""A layer unpacked under umask 077 still has docker's modes (issue 7 item 7)."""
from __future__ import annotations

import os
from typing import Iterator

import pytest

from rootless.config.paths import Paths
from rootless.images import layer_tar, layers
from rootless.images.types import chain_ids
from rootless.runtime.storage import driver as drv
from tests.unit.images.layertar import LayerTar, sha256


@pytest.fixture()
def umask_077() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: str) -> int:
    return os.stat(path).st_mode & 0o7777


def test_layer_root_and_unlisted_parents_are_0755(tmp_path, monkeypatch, umask_077) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(layer_tar.os, "fchown", lambda *_a: None)
    monkeypatch.setattr(layer_tar.os, "lchown", lambda *_a: None)
    paths = Paths(root=str(tmp_path / "store"), run=str(tmp_path / "run"))
    raw = LayerTar().file("usr/share/doc", b"x").dir("private", mode=0o700).bytes()
    blob = tmp_path / "blob"
    blob.write_bytes(raw)
    diff = layers.unpack_layer(paths, str(blob), sha256(raw), sha256(raw), chain_ids([sha256(raw)])[0])
    assert _mode(diff) == 0o755  # the container's /
    assert _mode(os.path.join(diff, "usr")) == _mode(os.path.join(diff, "usr", "share")) == 0o755
    assert _mode(os.path.join(diff, "usr", "share", "doc")) == 0o644
    assert _mode(os.path.join(diff, "private")) == 0o700  # what the tar says still wins


def test_fresh_upper_and_merged_are_0755_without_lowers(tmp_path, umask_077) -> None:  # type: ignore[no-untyped-def]
    layout = drv.RootfsLayout.of(Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run")), "c1")
    drv.make_dirs(layout, [])
    assert _mode(layout.upper) == _mode(layout.merged) == 0o755
