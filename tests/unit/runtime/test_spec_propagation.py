"""rootfsPropagation follows the binds as moby's daemon/oci_linux.go sets it (issue 16): crun's own
default is rprivate, which would cut an rslave bind off from its source's mount events."""
from __future__ import annotations

from rootless.runtime.spec import Mount, rootfs_propagation


def test_slave_binds_ask_an_rslave_root() -> None:
    assert rootfs_propagation([Mount("/a", "/h/a", options=("rbind", "rw", "rslave"))]) == "rslave"
    assert rootfs_propagation([Mount("/a", "/h/a", options=("rbind", "slave"))]) == "rslave"


def test_a_shared_bind_wins_over_slave_ones() -> None:
    mounts = [Mount("/a", "/h/a", options=("rslave",)), Mount("/b", "/h/b", options=("rshared",))]
    assert rootfs_propagation(mounts) == "shared"


def test_private_or_unset_leaves_crun_default() -> None:
    assert rootfs_propagation([Mount("/a", "/h/a", options=("rbind", "rprivate"))]) == ""
    assert rootfs_propagation([Mount("/a", "/h/a")]) == ""
    assert rootfs_propagation([Mount("/t", "tmpfs", type="tmpfs", options=("rslave",))]) == ""
