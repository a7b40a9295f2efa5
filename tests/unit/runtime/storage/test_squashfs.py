"""squashfs image files (issue 15): tool argv and mount bookkeeping; pure."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from rootless.errors import FailedPrecondition
from rootless.runtime.storage.squashfs import SquashMounts, mksquashfs_argv, squashfuse_argv


def test_mksquashfs_keeps_owners_and_never_appends() -> None:
    argv = mksquashfs_argv(["/s/rootfs", "/s/image.json"], "/out.sqfs")
    assert argv[:4] == ["mksquashfs", "/s/rootfs", "/s/image.json", "/out.sqfs"]
    assert "-noappend" in argv and "-all-root" not in argv and "-force-uid" not in argv


def test_squashfuse_mounts_for_other_container_ids() -> None:
    assert squashfuse_argv("/site/a.sqfs", "/m") == ["squashfuse", "-o", "allow_other", "/site/a.sqfs", "/m"]


def test_a_changed_file_gets_another_mount_dir(tmp_path: Path) -> None:
    mounts = SquashMounts(str(tmp_path / "squashfs"))
    one = mounts.key("/site/a.sqfs", (1, 2, 3, 4))
    assert one == mounts.key("/site/a.sqfs", (1, 2, 3, 4))
    assert one != mounts.key("/site/a.sqfs", (1, 2, 5, 4)) and one != mounts.key("/site/b.sqfs", (1, 2, 3, 4))
    assert mounts.owns(os.path.join(mounts.base, one, "rootfs"))
    assert not mounts.owns("/store/layers/abc/diff")


def test_a_file_changed_since_its_containers_were_made_is_refused(tmp_path: Path) -> None:
    from rootless.runtime.storage.squashfs import MountRecord, identity_of

    image = tmp_path / "a.sqfs"
    image.write_bytes(b"one")
    record = MountRecord(str(image), identity_of(os.stat(image)))
    SquashMounts._check_unchanged(record)
    image.write_bytes(b"other")
    with pytest.raises(FailedPrecondition, match="changed since containers were made from it"):
        SquashMounts._check_unchanged(record)
    image.unlink()
    with pytest.raises(FailedPrecondition, match="No such file"):
        SquashMounts._check_unchanged(record)


def test_a_release_waits_for_a_rootfs_being_mounted_on_the_file(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The race of item 4 (issue 15): the last container stops while another starts on the same file."""
    import threading

    from rootless.runtime.storage import squashfs

    mounted: set = set()
    monkeypatch.setattr(squashfs, "is_mount_point", lambda path: path in mounted)
    monkeypatch.setattr(squashfs, "detach", mounted.discard)
    mounts = SquashMounts(str(tmp_path / "squashfs"))
    monkeypatch.setattr(mounts, "_mount", lambda key: mounted.add(os.path.join(mounts.base, key)))
    image = tmp_path / "a.sqfs"
    image.write_bytes(b"one")
    lower = mounts.lower_for(str(image), (1, 2, 3, 4))
    rootfs_mounted: list = []  # the starting container's rootfs, once its driver mounted it
    inside, go_on = threading.Event(), threading.Event()

    def start() -> None:
        with mounts.held([lower]):
            inside.set()
            go_on.wait(5)
            rootfs_mounted.append(lower)
    starter = threading.Thread(target=start)
    starter.start()
    assert inside.wait(5)
    released: list = []
    stopper = threading.Thread(target=lambda: released.append(mounts.release([lower], lambda: list(rootfs_mounted))))
    stopper.start()
    stopper.join(0.3)
    assert stopper.is_alive(), "release waits while a rootfs is being mounted on the file"
    go_on.set()
    starter.join(5)
    stopper.join(5)
    assert released == [0] and os.path.dirname(lower) in mounted, "kept: the new rootfs stacks on it"
    rootfs_mounted.clear()  # that container stopped too
    assert mounts.release([lower], lambda: list(rootfs_mounted)) == 1 and not mounted
