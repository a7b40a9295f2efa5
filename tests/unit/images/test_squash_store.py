"""Images kept as one squashfs file (images/squash_store.py): the conversion's steps, and settle().

mksquashfs and squashfuse are the integration tests' (test_hpc_squashfs_store.py);
here the file is made by a stand-in writer and a crash is the crash hook raising
(nothing after it runs, as after a real SIGKILL).
"""
from __future__ import annotations

import dataclasses
import os
from typing import List

import pytest

from rootless.config.paths import Paths
from rootless.images import crashpoint, layer_dirs, layers, squash_store
from rootless.images.store import ImageRecord, ImageStore
from tests.unit.images.test_store import add_test_image

CRASH_POINTS = ["sqfs:after-write", "sqfs:after-link", "gc:after-layer-trashed", "sqfs:after-layers-trashed",
                "gc:mid-trash-empty"]


class Killed(BaseException):
    """The process died at a crash point."""


@pytest.fixture
def store(tmp_path) -> ImageStore:
    return ImageStore(Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run")))


def write_file(out: str) -> None:
    with open(out, "wb") as stream:
        stream.write(b"hsqs stand-in")


def unpacked(store: ImageStore, record: ImageRecord) -> List[bool]:
    return [layer_dirs.is_unpacked(store.paths, c) for c in record.chain_ids]


def store_files(store: ImageStore) -> List[str]:
    directory = squash_store.store_dir(store.paths.root)
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def convert_and_release(store: ImageStore, record: ImageRecord) -> None:
    squash_store.convert(store, record, write_file)
    squash_store.release_layers(store, record, squash_store.chains_to_keep(store, []))


def test_a_conversion_leaves_one_file_and_no_layer_dirs(store: ImageStore) -> None:
    record = add_test_image(store, [b"base", b"top"], tag="docker.io/library/app:1")
    layers.ensure_unpacked(store, record)
    convert_and_release(store, record)
    assert store_files(store) == [record.image_id.split(":")[1] + ".sqfs"]
    assert unpacked(store, record) == [False, False]
    assert all(store.has_blob(layer.digest) for layer in record.layers), "push and save need the blobs"
    assert not os.listdir(layer_dirs.trash_dir(store.paths))


def test_layers_another_dir_form_image_stacks_are_kept(store: ImageStore) -> None:
    other = add_test_image(store, [b"base"], tag="docker.io/library/base:1")
    record = add_test_image(store, [b"base", b"top"], tag="docker.io/library/app:1")
    layers.ensure_unpacked(store, record)
    convert_and_release(store, record)
    assert unpacked(store, record) == [True, False]
    assert other.chain_ids[0] == record.chain_ids[0]


def test_an_image_containers_use_keeps_its_layers(store: ImageStore) -> None:
    record = add_test_image(store, [b"base"], tag="docker.io/library/app:1")
    layers.ensure_unpacked(store, record)
    squash_store.convert(store, record, write_file)
    squash_store.settle(store, in_use=[record.image_id])
    assert unpacked(store, record) == [True]


def test_a_failed_write_leaves_the_dir_form_and_no_file(store: ImageStore) -> None:
    record = add_test_image(store, [b"base"], tag="docker.io/library/app:1")
    layers.ensure_unpacked(store, record)

    def fail(out: str) -> None:
        write_file(out)
        raise OSError("mksquashfs died")
    with pytest.raises(OSError):
        squash_store.convert(store, record, fail)
    assert store_files(store) == [] and unpacked(store, record) == [True]


def test_a_file_already_in_place_is_kept(store: ImageStore) -> None:
    record = add_test_image(store, [b"base"], tag="docker.io/library/app:1")
    layers.ensure_unpacked(store, record)
    path = squash_store.convert(store, record, write_file)
    before = os.stat(path).st_ino
    assert squash_store.convert(store, record, lambda out: pytest.fail("made again")) == path
    assert os.stat(path).st_ino == before


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_conversion_killed_at_any_step_is_settled_at_start(store: ImageStore, monkeypatch: pytest.MonkeyPatch,
                                                             point: str) -> None:
    record = add_test_image(store, [b"base", b"top"], tag="docker.io/library/app:1")
    layers.ensure_unpacked(store, record)

    def die() -> None:
        raise Killed(point)
    monkeypatch.setenv(crashpoint.CRASH_ENV, point)
    monkeypatch.setattr(crashpoint, "die", die)
    with pytest.raises(Killed):
        convert_and_release(store, record)
    monkeypatch.delenv(crashpoint.CRASH_ENV)
    store.recover()
    squash_store.settle(store, in_use=[])
    name = record.image_id.split(":")[1] + ".sqfs"
    if point == "sqfs:after-write":  # rolled back: the dir form, no file
        assert store_files(store) == [] and unpacked(store, record) == [True, True]
    else:  # finished: the file, no layer dirs
        assert store_files(store) == [name] and unpacked(store, record) == [False, False]
    assert layer_dirs.empty_trash(store.paths) == 0, "nothing half-removed is left in the trash"
    assert layers.ensure_unpacked(store, record), "the layers can always be unpacked again from the blobs"


def test_settle_removes_the_file_of_an_image_rmi_dropped(store: ImageStore) -> None:
    record = add_test_image(store, [b"base"], tag="docker.io/library/app:1")
    layers.ensure_unpacked(store, record)
    convert_and_release(store, record)
    store.remove(record.image_id)  # killed before the file went
    squash_store.settle(store, in_use=[])
    assert store_files(store) == []


def test_leftovers_are_temp_files_and_files_of_unknown_images() -> None:
    known = "sha256:" + "a" * 64
    names = [".tmp-" + "a" * 64 + ".1234.sqfs", "a" * 64 + ".sqfs", "b" * 64 + ".sqfs", ".lock"]
    assert squash_store.leftovers(names, {known}) == [".tmp-" + "a" * 64 + ".1234.sqfs", "b" * 64 + ".sqfs"]


def test_remove_file_says_whether_there_was_one(store: ImageStore) -> None:
    record = add_test_image(store, [b"base"], tag="docker.io/library/app:1")
    layers.ensure_unpacked(store, record)
    squash_store.convert(store, record, write_file)
    assert squash_store.remove_file(store.paths.root, record.image_id)
    assert not squash_store.remove_file(store.paths.root, record.image_id)


def test_settle_under_dirs_ends_a_killed_conversion_back_in_dir_form(store: ImageStore) -> None:
    """engine/image_convert.py unpacks the layers, then unlinks the file: killed between, start finishes."""
    record = add_test_image(store, [b"base", b"top"], tag="docker.io/library/app:1")
    other = add_test_image(store, [b"base", b"other"], tag="docker.io/library/other:1")
    for image in (record, other):
        layers.ensure_unpacked(store, image)
        convert_and_release(store, image)
    layers.ensure_unpacked(store, record)  # unpacked again; the file not yet unlinked
    removed = squash_store.settle(store, in_use=[], image_format="dirs")
    assert removed == [squash_store.image_file(store.paths.root, record.image_id)]
    assert store_files(store) == [other.image_id.split(":")[1] + ".sqfs"]
    assert unpacked(store, record) == [True, True], "its layers stay: it is a dir-form image now"
    assert unpacked(store, other) == [True, False], "the file image's own layer goes, the shared one stays"


def test_settle_under_dirs_keeps_the_file_of_an_image_partly_unpacked_or_in_use(store: ImageStore) -> None:
    record = add_test_image(store, [b"base", b"top"], tag="docker.io/library/app:1")
    layers.ensure_unpacked(store, record)
    convert_and_release(store, record)
    layers.ensure_unpacked(store, dataclasses.replace(record, layers=record.layers[:1]))  # killed after one layer
    assert squash_store.settle(store, in_use=[], image_format="dirs") == []
    assert store_files(store) and unpacked(store, record) == [False, False]
    layers.ensure_unpacked(store, record)
    assert squash_store.settle(store, in_use=[record.image_id], image_format="dirs") == []
    assert store_files(store) and unpacked(store, record) == [True, True]
