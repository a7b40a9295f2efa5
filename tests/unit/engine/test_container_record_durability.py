"""A --rm container's record is saved without fsync; a record that is not whole is skipped on load."""
from __future__ import annotations

import os
from typing import Any

from rootless.config import Paths
from rootless.engine.container_model import RECORD_FILE, Container
from tests.unit.fsync_spy import spy_fsync


def record(container_id: str, auto_remove: bool) -> dict:  # type: ignore[type-arg]
    return {"Id": container_id, "Name": "/c", "HostConfig": {"AutoRemove": auto_remove}}


def test_only_a_kept_containers_record_is_synced(tmp_path: Any, monkeypatch: Any) -> None:
    paths = Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run"))
    synced = spy_fsync(monkeypatch)
    for container_id, auto_remove in (("a" * 64, True), ("b" * 64, False)):
        os.makedirs(paths.container_dir(container_id))
        Container(paths, record(container_id, auto_remove)).save()
        loaded = Container.load(paths, container_id)
        assert loaded is not None and loaded.auto_remove is auto_remove
        assert len(synced) == (0 if auto_remove else 2)  # file and dir for the kept one


def test_a_torn_record_is_skipped_not_fatal(tmp_path: Any) -> None:
    # Only a record saved without fsync (AutoRemove) can be torn, by a power cut.
    paths = Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run"))
    for container_id, content in (("c" * 64, ""), ("d" * 64, '{"Id": "dd'), ("e" * 64, "[]")):
        os.makedirs(paths.container_dir(container_id))
        with open(os.path.join(paths.container_dir(container_id), RECORD_FILE), "w") as f:
            f.write(content)
        assert Container.load(paths, container_id) is None


def test_etc_files_written_at_every_start_are_not_synced(tmp_path: Any, monkeypatch: Any) -> None:
    from rootless.engine import container_spec

    paths = Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run"))
    container = Container(paths, {"Id": "f" * 64, "Config": {"Hostname": "box"}, "HostConfig": {}})
    os.makedirs(container.dir)
    monkeypatch.setattr(container_spec, "host_address", lambda: "192.168.5.7")
    synced = spy_fsync(monkeypatch)
    files = container_spec.write_etc_files(container, container_spec.NetworkSetup("private", "slirp4netns"))
    assert sorted(files) == ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"]
    assert all(os.path.exists(path) for path in files.values()) and synced == []
