"""Unpacking a layer while its blob is still being written (layers.StreamedUnpack)."""
from __future__ import annotations

import os
import time
from typing import List, Tuple

import pytest

from rootless.config.paths import Paths
from rootless.errors import InvalidArgument, Unavailable
from rootless.images import layer_dirs, layer_tar, layers
from rootless.images.store import ImageStore
from rootless.images.types import chain_ids
from tests.unit.images.layertar import LayerTar, sha256


@pytest.fixture(autouse=True)
def owners(monkeypatch: pytest.MonkeyPatch) -> None:
    """No chown (no root needed)."""
    monkeypatch.setattr(layer_tar.os, "lchown", lambda p, u, g: None)
    monkeypatch.setattr(layer_tar.os, "fchown", lambda fd, u, g: None)


@pytest.fixture
def store(tmp_path) -> ImageStore:
    return ImageStore(Paths(root=str(tmp_path / "store"), run=str(tmp_path / "run")))


def layer_blob() -> Tuple[bytes, str, str]:
    """(gzip blob, diff id, chain id) of a layer with a few files."""
    tar = LayerTar().dir("etc")
    for number in range(20):
        tar.file(f"etc/f{number}", os.urandom(3000))
    raw = tar.bytes()
    return tar.gzip(), sha256(raw), chain_ids([sha256(raw)])[0]


def start(store: ImageStore, blob: bytes, diff_id: str, chain: str):  # type: ignore[no-untyped-def]
    writer = store.ingest(sha256(blob), len(blob))
    streamed = layers.StreamedUnpack(store.paths, writer.data_path, sha256(blob), diff_id, chain)
    writer.on_write = streamed.grew
    return writer, streamed


def write_in_chunks(writer, blob: bytes, size: int = 1000) -> None:  # type: ignore[no-untyped-def]
    for offset in range(0, len(blob), size):
        writer.write(blob[offset:offset + size])


def leftovers(store: ImageStore) -> List[str]:
    return [n for n in os.listdir(store.paths.layers) if n.startswith(layer_dirs.TMP_PREFIX)]


def test_layer_is_unpacked_from_the_growing_ingest(store) -> None:
    blob, diff_id, chain = layer_blob()
    writer, streamed = start(store, blob, diff_id, chain)
    with writer:
        write_in_chunks(writer, blob)
        writer.commit()
        streamed.committed()
    streamed.close()
    assert streamed.error is None
    assert layer_dirs.is_unpacked(store.paths, chain) and store.has_blob(sha256(blob))
    assert len(os.listdir(os.path.join(layer_dirs.diff_dir(store.paths, chain), "etc"))) == 20


def test_layer_is_not_published_before_the_blob_is_committed(store) -> None:
    blob, diff_id, chain = layer_blob()
    writer, streamed = start(store, blob, diff_id, chain)
    with writer:
        write_in_chunks(writer, blob)
        time.sleep(0.3)  # the whole tar is there: only the commit is missing
        assert not layer_dirs.is_unpacked(store.paths, chain)
        writer.commit()
        streamed.committed()
    streamed.close()
    assert layer_dirs.is_unpacked(store.paths, chain)


def test_aborted_download_leaves_no_layer(store) -> None:
    blob, diff_id, chain = layer_blob()
    writer, streamed = start(store, blob, diff_id, chain)
    with writer:
        writer.write(blob[:len(blob) // 2])
    streamed.close()  # without committed(): the unpack gives up
    assert isinstance(streamed.error, Unavailable)
    assert not layer_dirs.is_unpacked(store.paths, chain) and leftovers(store) == []


def test_diff_id_mismatch_is_reported_and_nothing_published(store) -> None:
    blob, _diff_id, chain = layer_blob()
    writer, streamed = start(store, blob, "sha256:" + "b" * 64, chain)
    with writer:
        write_in_chunks(writer, blob)
        writer.commit()
        streamed.committed()
    streamed.close()
    assert isinstance(streamed.error, InvalidArgument)
    assert not layer_dirs.is_unpacked(store.paths, chain) and leftovers(store) == []


def test_blob_writer_reports_bytes_written(store) -> None:
    seen: List[int] = []
    with store.ingest() as writer:
        writer.on_write = seen.append
        writer.write(b"abc")
        writer.write(b"defg")
        with open(writer.data_path, "rb") as partial:  # unbuffered: already in the file
            assert partial.read() == b"abcdefg"
        writer.commit()
    assert seen == [3, 7]
