"""host/placement.py: shared filesystems by statfs magic and by a chown probe (issue 15)."""
from __future__ import annotations

import os

import pytest

from rootless.errors import FailedPrecondition
from rootless.host import placement

NFS, EXT4 = 0x6969, 0xEF53


def _fs(shared_prefix: str):
    """A statfs stand-in: paths under shared_prefix are NFS, the rest ext4."""
    return lambda path: NFS if path.startswith(shared_prefix) else EXT4


def test_statfs_reads_the_real_magic_of_a_local_dir(tmp_path):
    assert placement.statfs_type(str(tmp_path)) not in placement.SHARED_MAGICS
    assert placement.statfs_type("/proc") == 0x9FA0  # PROC_SUPER_MAGIC: the struct is read at the right offset


def test_shared_fs_is_named_from_the_nearest_existing_parent(tmp_path):
    missing = str(tmp_path / "not" / "yet")
    assert placement.shared_fs_name(missing, _fs(str(tmp_path))) == "nfs"
    assert placement.shared_fs_name(missing, _fs("/elsewhere")) is None
    for magic, name in ((0x0BD00BD0, "lustre"), (0x47504653, "gpfs"), (0x19830326, "beegfs"), (0xFF534D42, "cifs")):
        assert placement.shared_fs_name(missing, lambda _p, m=magic: m) == name


def test_probe_chown_on_a_local_dir(tmp_path):
    # As root a chown to uid 1 works (the namespace's view); as a plain user the kernel refuses it,
    # which is the answer an NFS server gives a subordinate id.
    reason = placement.probe_chown(str(tmp_path))
    if os.geteuid() == 0:
        assert reason is None
    else:
        assert reason is not None and "subordinate id 1" in reason
    assert os.listdir(tmp_path) == []  # the probe file is gone either way


def test_probe_chown_in_a_dir_that_refuses_files(tmp_path):
    assert "can't create a file there" in (placement.probe_chown(str(tmp_path / "missing")) or "")


def _plan(tmp_path, requested: str, explicit: bool, shared_prefix: str) -> placement.StoragePlan:
    env = {"TMPDIR": str(tmp_path / "local")}
    for mount in ("home", "nfs"):  # the shared "mounts" exist, as /home does
        os.makedirs(tmp_path / mount, exist_ok=True)
    os.mkdir(tmp_path / "local", 0o700)
    return placement.plan_storage(requested, explicit, env, os.getuid(), _fs(shared_prefix))


def test_default_root_on_nfs_moves_to_tmpdir_without_touching_nfs(tmp_path):
    home = str(tmp_path / "home" / ".local" / "share" / "rootless")
    plan = _plan(tmp_path, home, False, str(tmp_path / "home"))
    assert plan.shared == "nfs"
    local = str(tmp_path / "local" / f"rootless-store-{os.getuid()}")
    assert plan.fallbacks[0] == local
    chosen = placement.choose_storage(plan, single_id=False, probe=lambda _p: None)
    assert chosen.root == local
    assert "is on nfs" in chosen.note and local in chosen.note
    assert os.listdir(tmp_path / "home") == []  # nothing created on the shared filesystem
    assert os.stat(local).st_mode & 0o777 == 0o700


def test_default_root_that_fails_the_probe_moves_too(tmp_path):
    requested = str(tmp_path / "vfat" / "store")
    plan = _plan(tmp_path, requested, False, "/nowhere")
    assert plan.shared is None
    chosen = placement.choose_storage(plan, False, probe=lambda p: "EPERM" if "vfat" in p else None)
    assert chosen.root.startswith(str(tmp_path / "local"))
    assert "(EPERM)" in chosen.note


def test_a_good_root_is_used_as_is(tmp_path):
    requested = str(tmp_path / "store")
    chosen = placement.choose_storage(_plan(tmp_path, requested, True, "/nowhere"), False, probe=lambda _p: None)
    assert chosen == placement.Placement(requested)


def test_explicit_root_on_nfs_is_refused_with_the_fix(tmp_path):
    plan = _plan(tmp_path, str(tmp_path / "nfs" / "store"), True, str(tmp_path / "nfs"))
    with pytest.raises(FailedPrecondition) as caught:
        placement.choose_storage(plan, single_id=False, probe=lambda _p: None)
    assert "can't use storage root" in caught.value.message and "nfs" in caught.value.message
    assert "ROOTLESS_ROOT" in (caught.value.hint or "")


def test_explicit_root_on_nfs_is_honoured_in_single_uid_mode_and_said(tmp_path):
    requested = str(tmp_path / "nfs" / "store")
    chosen = placement.choose_storage(_plan(tmp_path, requested, True, str(tmp_path / "nfs")), single_id=True)
    assert chosen.root == requested and "single-uid mode" in chosen.note


def test_a_node_local_dir_another_user_made_is_refused(tmp_path):
    plan = _plan(tmp_path, str(tmp_path / "nfs" / "x"), False, str(tmp_path / "nfs"))
    first = plan.fallbacks[0]
    os.mkdir(first, 0o777)  # like a dir squatted by another user: open to others
    os.chmod(first, 0o777)
    chosen = placement.choose_storage(plan, False, probe=lambda _p: None)
    assert chosen.root != first  # the next candidate is taken


def test_no_local_dir_fits_is_an_error_naming_each(tmp_path):
    plan = placement.StoragePlan(str(tmp_path / "nfs"), False, "nfs", (), ("/tmp/x: owned by uid 7",))
    with pytest.raises(FailedPrecondition) as caught:
        placement.choose_storage(plan, False)
    assert "/tmp/x: owned by uid 7" in caught.value.message


def test_unsafe_bases_are_rejected(tmp_path):
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o777)  # world-writable without the sticky bit: entries can be replaced
    plan = placement.plan_storage(str(tmp_path / "r"), False, {"TMPDIR": str(open_dir)}, os.getuid(),
                                  _fs("/nowhere"))
    assert any(r.startswith(str(open_dir)) and "lets other users replace" in r for r in plan.rejected)
    assert all(not f.startswith(str(open_dir)) for f in plan.fallbacks)


def test_doctor_view_without_probe(tmp_path):
    home = str(tmp_path / "home" / "store")
    os.mkdir(tmp_path / "home")
    target, note = placement.describe_default(home, False, {"TMPDIR": str(tmp_path)}, os.getuid(),
                                              _fs(str(tmp_path / "home")))
    assert target == str(tmp_path / f"rootless-store-{os.getuid()}") and "is on nfs" in note
