"""Issue 15: a runtime dir is per host, so a home on NFS/Lustre does not hold it."""
from __future__ import annotations

from rootless.config.paths import default_runtime_dir
from rootless.util import linux


def test_a_home_on_a_shared_filesystem_keeps_no_runtime_dir(monkeypatch) -> None:
    home = "/nfs-home-not-here/u"  # its nearest existing parent is /
    assert default_runtime_dir({"HOME": home}, 1000) == home + "/.local/share/rootless/run"
    # No NFS server here: statfs answers NFS_SUPER_MAGIC for the home, as on a cluster.
    real = linux.statfs_type
    monkeypatch.setattr(linux, "statfs_type", lambda p: 0x6969 if p == "/" else real(p))
    assert default_runtime_dir({"HOME": home}, 1000) == "/tmp/rootless-1000"
    assert default_runtime_dir({"HOME": home, "XDG_RUNTIME_DIR": "/run/user/1000"}, 1000) == "/run/user/1000/rootless"


def test_statfs_of_a_path_not_made_yet_is_its_parents() -> None:
    assert linux.existing_parent("/proc/nonexistent/deeper") == "/proc"
    assert linux.statfs_type(linux.existing_parent("/proc/nonexistent")) == 0x9FA0


def test_placed_follows_the_daemons_record_for_this_root_only(tmp_path) -> None:
    import json

    from rootless.config.paths import Paths

    paths = Paths(root="/nfs/home/u/.local/share/rootless", run=str(tmp_path))
    assert paths.placed() == paths  # no daemon yet
    with open(paths.storage_placement, "w") as f:
        json.dump({"requested": paths.root, "root": "/tmp/rootless-store-1000", "note": "on nfs"}, f)
    assert paths.placed() == Paths(root="/tmp/rootless-store-1000", run=str(tmp_path))
    other = Paths(root="/elsewhere", run=str(tmp_path))
    assert other.placed() == other  # a record for another requested root is not ours
