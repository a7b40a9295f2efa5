from __future__ import annotations

import gzip
import io
import json

import pytest

from rootless.config.paths import Paths
from rootless.images import layers, types
from rootless.images.commit import new_image, write_layer
from rootless.images.store import ImageStore
from rootless.images.types import ContainerConfig, History
from tests.unit.images.layertar import LayerTar, sha256
from tests.unit.images.test_store import add_test_image


@pytest.fixture
def store(tmp_path) -> ImageStore:
    return ImageStore(Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run")))


@pytest.mark.parametrize("compress", [True, False])
def test_write_layer_computes_diff_id_and_digest(store: ImageStore, compress: bool) -> None:
    raw = LayerTar().file("new", b"data" * 10000).bytes()
    layer = write_layer(store, io.BytesIO(raw), compress=compress)
    blob = store.read_blob(layer.digest)
    assert layer.diff_id == sha256(raw) and layer.digest == sha256(blob) and layer.size == len(blob)
    assert (gzip.decompress(blob) if compress else blob) == raw
    assert layer.media_type == (types.MT_OCI_LAYER_GZIP if compress else types.MT_OCI_LAYER)


def test_new_image_on_a_base(store: ImageStore) -> None:
    base = add_test_image(store, [b"base"], tag="r/base:1")
    layer = write_layer(store, io.BytesIO(LayerTar().file("added", b"x").bytes()))
    config = ContainerConfig(cmd=["run"], env=["A=1"])
    history = [History(created_by="RUN make", comment="c"), History(created_by="CMD run", empty_layer=True)]
    image = new_image(store, base, [layer], config, history, repo_tag="r/child:1", author="me")
    assert store.get("r/child:1").image_id == image.image_id
    assert image.diff_ids == base.diff_ids + [layer.diff_id]
    assert image.config.config.cmd == ["run"] and image.config.author == "me"
    assert [h.created_by for h in image.config.history] == ["RUN make", "CMD run"]
    assert all(h.created for h in image.config.history)
    manifest = json.loads(store.read_blob(image.manifest_digest))
    assert [d["digest"] for d in manifest["layers"]] == [base.layers[0].digest, layer.digest]
    assert manifest["config"]["digest"] == image.image_id
    dirs = layers.ensure_unpacked(store, image)
    assert open(dirs[1] + "/added", "rb").read() == b"x"


def test_new_image_from_scratch_without_layers(store: ImageStore) -> None:
    image = new_image(store, None, [], ContainerConfig(cmd=["true"]),
                      platform=types.Platform(os="linux", architecture="riscv64"))
    assert image.layers == [] and image.config.architecture == "riscv64"
    assert store.get(image.image_id).config.config.cmd == ["true"]
