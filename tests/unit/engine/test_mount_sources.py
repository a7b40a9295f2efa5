"""Subpath rules and moby's propagation checks (engine/mount_sources.py, api/types.py; issue 16)."""
from __future__ import annotations

import pytest

from rootless.api import types
from rootless.api.decode import decode_body
from rootless.engine import mount_sources
from rootless.errors import FailedPrecondition, InvalidArgument

MOUNTINFO = """\
22 1 0:21 / / rw,relatime - overlay overlay rw
30 22 0:25 / /tmp rw,relatime - tmpfs tmpfs rw
31 22 0:26 / /srv rw,relatime shared:5 - ext4 /dev/sda1 rw
32 31 0:27 / /srv/slave rw,relatime master:5 - ext4 /dev/sda2 rw
33 22 0:28 / /my\\040dir rw - tmpfs tmpfs rw
"""


def test_source_mount_is_the_longest_prefix() -> None:
    assert mount_sources.source_mount(MOUNTINFO, "/srv/slave/x") == ("/srv/slave", "master:5")
    assert mount_sources.source_mount(MOUNTINFO, "/srv/data") == ("/srv", "shared:5")
    assert mount_sources.source_mount(MOUNTINFO, "/tmpx") == ("/", "")
    assert mount_sources.source_mount(MOUNTINFO, "/my dir/a") == ("/my dir", "")


def test_propagation_follows_mobys_rules() -> None:
    mount_sources.check_propagation("/srv/a", "rshared", MOUNTINFO)
    mount_sources.check_propagation("/srv/slave/a", "rslave", MOUNTINFO)
    mount_sources.check_propagation("/tmp/a", "rprivate", MOUNTINFO)
    with pytest.raises(FailedPrecondition, match="^path /srv/slave/a is mounted on /srv/slave but it is not a "
                                                 "shared mount$"):
        mount_sources.check_propagation("/srv/slave/a", "shared", MOUNTINFO)
    with pytest.raises(FailedPrecondition, match="not a shared or slave mount") as caught:
        mount_sources.check_propagation("/tmp/a", "rslave", MOUNTINFO)
    assert "private on the host" in (caught.value.hint or "")
    with pytest.raises(FailedPrecondition, match="not a shared mount$") as shared:
        mount_sources.check_propagation("/tmp/a", "rshared", MOUNTINFO)
    assert "use rslave" in (shared.value.hint or "")


def test_propagation_of_options() -> None:
    assert mount_sources.propagation_of(("rbind", "ro", "rslave")) == "rslave"
    assert mount_sources.propagation_of(("rbind", "rw")) == ""


def _mount(**body: object) -> types.Mount:
    return decode_body(types.Mount, {"Type": "volume", "Target": "/d", **body})


@pytest.mark.parametrize("subpath", ["a", "a/b", "./a", "a/./b", "a/..", "."])  # Go's filepath.IsLocal
def test_subpaths_inside_the_volume_are_taken(subpath: str) -> None:
    assert _mount(Source="vol", VolumeOptions={"Subpath": subpath}).VolumeOptions.Subpath == subpath


@pytest.mark.parametrize("subpath", ["/a", "..", "../a", "a/../../b"])
def test_subpaths_outside_are_refused_in_mobys_words(subpath: str) -> None:
    with pytest.raises(InvalidArgument, match="subpath must be a relative path within the volume"):
        _mount(Source="vol", VolumeOptions={"Subpath": subpath})


def test_subpath_of_an_anonymous_volume_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="must not set Subpath when using anonymous volumes"):
        _mount(VolumeOptions={"Subpath": "a"})
