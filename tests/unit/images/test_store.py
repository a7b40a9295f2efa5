from __future__ import annotations

import json
import os
import stat
import threading
from typing import List, Optional

import pytest

from rootless.config.paths import Paths
from rootless.errors import Conflict, Internal, InvalidArgument, NotFound, Unavailable
from rootless.images import layer_dirs, layers, types
from rootless.images.store import ImageRecord, ImageStore, LayerRecord
from rootless.images.store import _resolve as resolve_name
from tests.unit.images.layertar import LayerTar, sha256


@pytest.fixture
def store(tmp_path) -> ImageStore:
    return ImageStore(Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run")))


def add_test_image(store: ImageStore, files: List[bytes], tag: Optional[str] = None,
                   repo_digest: Optional[str] = None, created: str = "2024-01-01T00:00:00Z") -> ImageRecord:
    """Commit layer, config and manifest blobs the way a pull does, then record the image."""
    records = []
    for index, content in enumerate(files):
        raw = LayerTar().file(f"f{index}", content).bytes()
        digest = store.put_blob(raw)
        records.append(LayerRecord(digest, types.MT_OCI_LAYER, len(raw), sha256(raw)))
    config = {"architecture": "amd64", "os": "linux", "created": created, "config": {"Cmd": ["sh"]},
              "rootfs": {"type": "layers", "diff_ids": [r.diff_id for r in records]}}
    config_digest = store.put_blob(json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": types.MT_OCI_MANIFEST,
                "config": {"mediaType": types.MT_OCI_CONFIG, "digest": config_digest, "size": 1},
                "layers": [{"mediaType": r.media_type, "digest": r.digest, "size": r.size} for r in records]}
    manifest_digest = store.put_blob(json.dumps(manifest).encode())
    return store.add_image(manifest_digest, types.MT_OCI_MANIFEST, config_digest, records,
                           repo_tag=tag, repo_digest=repo_digest)


# -- blobs -----------------------------------------------------------------------
def test_ingest_commits_a_verified_read_only_blob(store: ImageStore) -> None:
    data = b"hello blob"
    with store.ingest(sha256(data), len(data)) as writer:
        writer.write(data[:4])
        writer.write(data[4:])
        assert not store.has_blob(sha256(data))  # nothing visible before commit
        assert writer.commit() == sha256(data)
    assert store.has_blob(sha256(data)) and store.blob_size(sha256(data)) == len(data)
    assert stat.S_IMODE(os.stat(store.blob_path(sha256(data))).st_mode) == 0o444
    with store.open_blob(sha256(data)) as f:
        assert f.read() == data
    assert os.listdir(store.paths.ingest) == []


def test_digest_mismatch_is_refused_and_cleaned(store: ImageStore) -> None:
    wrong = "sha256:" + "0" * 64
    with pytest.raises(InvalidArgument, match="digest mismatch"):
        with store.ingest(wrong) as writer:
            writer.write(b"data")
            writer.commit()
    assert not store.has_blob(wrong) and os.listdir(store.paths.ingest) == []


def test_size_overflow_and_short_blobs_are_refused(store: ImageStore) -> None:
    with pytest.raises(InvalidArgument, match="more than"):
        with store.ingest(expected_size=3) as writer:
            writer.write(b"four")
    with pytest.raises(InvalidArgument, match="expected 10"):
        with store.ingest(expected_size=10) as writer:
            writer.write(b"four")
            writer.commit()
    assert os.listdir(store.paths.ingest) == []


def test_leaving_without_commit_discards(store: ImageStore) -> None:
    with store.ingest() as writer:
        writer.write(b"abandoned")
    assert os.listdir(store.paths.ingest) == [] and os.listdir(store.paths.blobs) == []


def test_existing_blob_is_success(store: ImageStore) -> None:
    digest = store.put_blob(b"same")
    with store.ingest(digest) as writer:
        writer.write(b"same")
        assert writer.commit() == digest
    assert store.put_blob(b"same") == digest


def test_concurrent_ingests_of_one_digest(store: ImageStore) -> None:
    data = os.urandom(1 << 18)
    errors: List[BaseException] = []

    def ingest() -> None:
        try:
            with store.ingest(sha256(data), len(data)) as writer:
                for offset in range(0, len(data), 4096):
                    writer.write(data[offset:offset + 4096])
                writer.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ingest) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.read_blob(sha256(data)) == data


def test_missing_blob_is_not_found(store: ImageStore) -> None:
    with pytest.raises(NotFound):
        store.open_blob("sha256:" + "9" * 64)
    with pytest.raises(InvalidArgument):
        store.blob_path("md5:abc")


# -- images ------------------------------------------------------------------------
def test_add_and_get_by_every_name(store: ImageStore) -> None:
    tag = "docker.io/library/busybox:latest"
    repo_digest = "docker.io/library/busybox@sha256:" + "d" * 64
    record = add_test_image(store, [b"a", b"b"], tag=tag, repo_digest=repo_digest)
    assert record.repo_tags == [tag] and record.repo_digests == [repo_digest]
    assert record.config.config.cmd == ["sh"] and len(record.layers) == 2
    assert record.created == "2024-01-01T00:00:00Z" and record.size > 0
    hexid = record.image_id.split(":")[1]
    for name in (tag, repo_digest, record.image_id, hexid, hexid[:4], "sha256:" + hexid[:12]):
        assert store.get(name).image_id == record.image_id
    for name in ("busybox", "docker.io/library/busybox:other", hexid[:3], "sha256:" + "f" * 64):
        with pytest.raises(NotFound, match="No such image"):
            store.get(name)


def test_add_requires_committed_blobs_and_matching_diff_ids(store: ImageStore) -> None:
    record = add_test_image(store, [b"a"])
    with pytest.raises(NotFound, match="not in the store"):
        store.add_image("sha256:" + "e" * 64, types.MT_OCI_MANIFEST, record.image_id, record.layers)
    wrong = [LayerRecord(record.layers[0].digest, types.MT_OCI_LAYER, 1, "sha256:" + "f" * 64)]
    with pytest.raises(InvalidArgument, match="diff_ids"):
        store.add_image(record.manifest_digest, types.MT_OCI_MANIFEST, record.image_id, wrong)


def test_tag_moves_between_images(store: ImageStore) -> None:
    tag = "127.0.0.1:5000/app:latest"
    first = add_test_image(store, [b"1"], tag=tag)
    second = add_test_image(store, [b"2"], tag=tag)
    assert store.get(tag).image_id == second.image_id
    assert store.get(first.image_id).repo_tags == []
    store.tag(first.image_id, "127.0.0.1:5000/app:old")
    store.tag(first.image_id, tag)
    assert sorted(store.get(first.image_id).repo_tags) == ["127.0.0.1:5000/app:latest", "127.0.0.1:5000/app:old"]
    assert store.get(second.image_id).repo_tags == []
    with pytest.raises(NotFound):
        store.tag("sha256:" + "0" * 64, tag)


def test_untag_and_remove(store: ImageStore) -> None:
    record = add_test_image(store, [b"1"], tag="r/a:1")
    store.tag(record.image_id, "r/a:2")
    assert store.untag("r/a:1").image_id == record.image_id
    assert store.get(record.image_id).repo_tags == ["r/a:2"]
    with pytest.raises(NotFound):
        store.untag("r/a:1")
    assert store.remove(record.image_id).image_id == record.image_id
    assert store.list() == []
    with pytest.raises(NotFound):
        store.remove(record.image_id)


def test_re_adding_keeps_tags(store: ImageStore) -> None:
    record = add_test_image(store, [b"1"], tag="r/a:1")
    again = store.add_image(record.manifest_digest, record.manifest_media_type, record.image_id,
                            record.layers, repo_tag="r/a:2")
    assert sorted(again.repo_tags) == ["r/a:1", "r/a:2"]
    assert len(store.list()) == 1


def test_list_is_newest_first(store: ImageStore) -> None:
    old = add_test_image(store, [b"old"], created="2020-01-01T00:00:00Z")
    new = add_test_image(store, [b"new"], created="2024-01-01T00:00:00Z")
    assert [r.image_id for r in store.list()] == [new.image_id, old.image_id]


def test_ambiguous_prefix_is_a_conflict() -> None:
    images = {"sha256:abcd1" + "0" * 59: {}, "sha256:abcd2" + "0" * 59: {}}
    with pytest.raises(Conflict, match="ambiguous"):
        resolve_name(images, "abcd")
    assert resolve_name(images, "abcd1") == "sha256:abcd1" + "0" * 59


def test_index_is_shared_between_store_objects(store: ImageStore) -> None:
    record = add_test_image(store, [b"1"], tag="r/a:1")
    other = ImageStore(store.paths)
    assert other.get("r/a:1").image_id == record.image_id
    other.untag("r/a:1")
    assert store.get(record.image_id).repo_tags == []


def test_concurrent_tagging_loses_nothing(store: ImageStore) -> None:
    record = add_test_image(store, [b"1"])
    threads = [threading.Thread(target=store.tag, args=(record.image_id, f"r/a:{i}")) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.get(record.image_id).repo_tags) == 20


# -- garbage -------------------------------------------------------------------------
def test_garbage_collect_removes_what_no_image_needs(store: ImageStore) -> None:
    keep = add_test_image(store, [b"shared", b"kept"], tag="r/keep:1")
    drop = add_test_image(store, [b"shared", b"dropped"], tag="r/drop:1")
    for record in (keep, drop):
        layers.ensure_unpacked(store, record)
    stray = store.put_blob(b"stray")
    store.remove(drop.image_id)
    freed = store.garbage_collect()
    assert freed > 0
    assert not store.has_blob(stray) and not store.has_blob(drop.image_id)
    assert not store.has_blob(drop.layers[1].digest)
    assert all(store.has_blob(layer.digest) for layer in keep.layers)
    assert store.has_blob(keep.manifest_digest) and store.has_blob(keep.image_id)
    assert all(layer_dirs.is_unpacked(store.paths, c) for c in keep.chain_ids)
    assert not layer_dirs.is_unpacked(store.paths, drop.chain_ids[1])


def test_ensure_unpacked_shares_chains(store: ImageStore) -> None:
    first = add_test_image(store, [b"base", b"one"])
    second = add_test_image(store, [b"base", b"two"])
    dirs_first = layers.ensure_unpacked(store, first)
    dirs_second = layers.ensure_unpacked(store, second)
    assert dirs_first[0] == dirs_second[0] and dirs_first[1] != dirs_second[1]
    assert open(os.path.join(dirs_second[1], "f1"), "rb").read() == b"two"
    assert layers.ensure_unpacked(store, first) == dirs_first


def test_disk_usage(store: ImageStore) -> None:
    first = add_test_image(store, [b"base", b"one"])
    second = add_test_image(store, [b"base", b"two"])
    layers.ensure_unpacked(store, first)
    usage = store.disk_usage()
    assert len(usage.images) == 2 and usage.blobs_size > 0
    by_id = {u.record.image_id: u for u in usage.images}
    assert by_id[first.image_id].size == len(b"base") + len(b"one")
    assert by_id[first.image_id].shared_size == len(b"base")
    # "two" is not unpacked: its blob's size stands in
    assert usage.layers_size == len(b"base") + len(b"one") + second.layers[1].size
    assert usage.reclaimable == usage.layers_size  # no container uses either


def test_disk_usage_never_reclaims_what_containers_use(store: ImageStore) -> None:
    used = add_test_image(store, [b"base", b"one"])
    unused = add_test_image(store, [b"base", b"two"])
    for record in (used, unused):
        layers.ensure_unpacked(store, record)
    usage = store.disk_usage(in_use=[used.image_id])
    # only "two" goes with the unused image: "base" stays for the used one
    assert usage.reclaimable == len(b"two")
    assert store.disk_usage(in_use=[used.image_id, unused.image_id]).reclaimable == 0


def test_garbage_collect_waits_for_leases(store: ImageStore) -> None:
    started = threading.Event()
    with store.lease():
        stray = store.put_blob(b"committed, not yet recorded")
        worker = threading.Thread(target=lambda: (started.set(), store.garbage_collect()))
        worker.start()
        started.wait()
        worker.join(timeout=0.3)
        assert worker.is_alive() and store.has_blob(stray)
    worker.join(timeout=10)
    assert not worker.is_alive() and not store.has_blob(stray)


def test_corrupt_index_is_reported(store: ImageStore) -> None:
    add_test_image(store, [b"1"])
    with open(store.paths.image_index, "w") as f:
        f.write("{broken")
    with pytest.raises(Internal, match="can't read image index"):
        store.list()


def test_unpacking_a_missing_blob_is_not_found(store: ImageStore) -> None:
    record = add_test_image(store, [b"1"])
    os.unlink(store.blob_path(record.layers[0].digest))
    with pytest.raises(NotFound, match="not in the store"):
        layers.ensure_unpacked(store, record)


def test_garbage_collect_keeps_chains_it_is_told_to(store: ImageStore) -> None:
    record = add_test_image(store, [b"in use by a container"])
    layers.ensure_unpacked(store, record)
    store.remove(record.image_id)
    store.garbage_collect(keep_chain_ids=record.chain_ids)
    assert layer_dirs.is_unpacked(store.paths, record.chain_ids[0])
    store.garbage_collect()
    assert not layer_dirs.is_unpacked(store.paths, record.chain_ids[0])


def test_recover_drops_unfinished_work_and_keeps_finished(store: ImageStore) -> None:
    """What a SIGKILLed daemon leaves: a half ingest, a half unpack; its finished work stays."""
    kept = add_test_image(store, [b"done"], tag="r/kept:1")
    layers.ensure_unpacked(store, kept)
    finished_blob = store.put_blob(b"downloaded, never recorded")
    half = store.ingest(sha256(b"x" * 10), 10)
    half.write(b"x" * 5)  # the writer is never committed nor aborted
    unpack = os.path.join(store.paths.layers, layer_dirs.TMP_PREFIX + "killed")
    os.makedirs(os.path.join(unpack, "diff", "ro"))
    os.chmod(os.path.join(unpack, "diff", "ro"), 0o555)
    store.recover()
    assert os.listdir(store.paths.ingest) == []
    assert not os.path.exists(unpack)
    assert store.has_blob(finished_blob) and store.list() == [store.get("r/kept:1")]
    assert all(layer_dirs.is_unpacked(store.paths, c) for c in kept.chain_ids)


def test_claim_blob_serialises_fetches_and_honours_cancel(store: ImageStore) -> None:
    digest = sha256(b"claimed")
    cancelled = threading.Event()
    with store.claim_blob(digest) as missing:
        assert missing
        cancelled.set()
        with pytest.raises(Unavailable, match="cancelled"):
            with store.claim_blob(digest, cancelled):
                pass
        store.put_blob(b"claimed")
    with store.claim_blob(digest) as missing:
        assert not missing  # fetched by the first claimant meanwhile
