"""Site image stores (issue 15): who may own them, image.json, lookups; pure (tmp dirs only)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

import pytest

from rootless.errors import InvalidArgument
from rootless.images.site_store import (SiteFile, SiteStore, approve_stores, check_dir, check_file, identity_of,
                                        image_meta, record_from_meta)
from rootless.images.store import ImageRecord, LayerRecord
from rootless.images.types import ImageConfig

IMAGE_ID = "sha256:" + "ab" * 32


def _record(tags: "list[str]") -> ImageRecord:
    config = ImageConfig.from_json({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                                    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "cd" * 32]}})
    layer = LayerRecord("sha256:" + "ef" * 32, "application/vnd.oci.image.layer.v1.tar+gzip", 10, "sha256:" + "cd" * 32)
    return ImageRecord(IMAGE_ID, "sha256:" + "01" * 32, "application/vnd.oci.image.manifest.v1+json", config,
                       [layer], repo_tags=tags)


def _site(tmp_path: Path, name: str = "img.sqfs") -> SiteFile:
    path = tmp_path / name
    path.write_bytes(b"squashfs")
    os.chmod(path, 0o644)
    return SiteFile(str(path), identity_of(os.stat(path)))


def test_image_meta_round_trips_into_a_read_only_record(tmp_path: Path) -> None:
    site = _site(tmp_path)
    record = record_from_meta(image_meta(_record(["docker.io/library/app:1"])), site)
    assert record.image_id == IMAGE_ID and record.repo_tags == ["docker.io/library/app:1"]
    assert record.config.config.cmd == ["sh"] and record.diff_ids == ["sha256:" + "cd" * 32]
    assert record.squashfs == site.path and record.size == len(b"squashfs")


@pytest.mark.parametrize("body,why", [
    (b"{", "not JSON"), (b"{}", "not a rootless squashfs image"),
    (b'{"rootlessSquashfs": 1, "imageId": "x"}', "imageId"),
    (b'{"rootlessSquashfs": 1, "imageId": "' + IMAGE_ID.encode() + b'", "config": {}, "repoTags": [1]}', "repoTags"),
])
def test_bad_image_meta_is_refused_by_name(tmp_path: Path, body: bytes, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        record_from_meta(body, _site(tmp_path))


def test_site_store_finds_by_tag_and_id_prefix_and_skips_a_changed_file(tmp_path: Path) -> None:
    site = _site(tmp_path)
    reads: Dict[str, int] = {}

    def read(path: str) -> bytes:
        reads[path] = reads.get(path, 0) + 1
        return image_meta(_record(["docker.io/library/app:1"]))

    store = SiteStore([site], read)
    assert store.find("docker.io/library/app:1") is not None
    assert store.find("abab") is not None and store.find(IMAGE_ID) is not None
    assert store.find("docker.io/library/other:1") is None and store.find("cdcd") is None
    assert reads == {site.path: 1}  # image.json read once per file version
    Path(site.path).write_bytes(b"replaced by someone")
    assert store.list() == []  # not the file approved at start: used after the next start


def test_a_file_with_bad_meta_is_skipped_not_fatal(tmp_path: Path) -> None:
    assert SiteStore([_site(tmp_path)], lambda path: b"junk").list() == []


def _another_users(path: str, euid: int) -> int:
    """The euid to check path with so that path belongs to someone else (as root: chown it away)."""
    if euid == 0:
        os.chown(path, 12345, 12345)
        return 0
    return euid + 1


def test_dirs_others_can_write_are_refused_and_parents_may_be_sticky(tmp_path: Path) -> None:
    euid = os.geteuid()
    site = tmp_path / "site"
    site.mkdir()
    os.chmod(site, 0o755)
    os.chmod(tmp_path, 0o755)
    assert check_dir(str(site), euid) is None
    os.chmod(site, 0o1777)  # sticky is not enough for the store itself: anyone could add an image
    assert "lets other users write it" in str(check_dir(str(site), euid))
    os.chmod(site, 0o755)
    os.chmod(tmp_path, 0o1777)  # a sticky parent (like /tmp) can't have site renamed away
    assert check_dir(str(site), euid) is None
    os.chmod(tmp_path, 0o777)
    assert "lets other users write it" in str(check_dir(str(site), euid))
    os.chmod(tmp_path, 0o755)
    assert "owned by uid" in str(check_dir(str(site), _another_users(str(site), euid)))
    assert check_dir("relative/dir", euid) == "not an absolute path"


def test_files_others_can_write_or_own_are_refused(tmp_path: Path) -> None:
    euid = os.geteuid()
    os.chmod(tmp_path, 0o755)
    good = _site(tmp_path, "good.sqfs")
    bad = _site(tmp_path, "bad.sqfs")
    os.chmod(bad.path, 0o666)
    (tmp_path / "notes.txt").write_text("ignored: not an image file name")
    os.symlink(good.path, tmp_path / "link.sqfs")
    files, warnings = approve_stores([str(tmp_path), str(tmp_path / "missing")], euid)
    assert [f.path for f in files] == [good.path]
    assert any("bad.sqfs refused: mode 0666" in w for w in warnings), warnings
    assert any("link.sqfs refused: not a regular file" in w for w in warnings), warnings
    assert any("missing" in w and "refused" in w for w in warnings), warnings
    assert check_file(good.path, euid)[0] == SiteFile(good.path, identity_of(os.stat(good.path)))
    assert "owned by uid" in str(check_file(good.path, _another_users(good.path, euid))[1])
