"""volume create --opt: the local driver's tmpfs and bind volumes, everything else refused at create."""
from __future__ import annotations

import pytest

from rootless.errors import InvalidArgument
from rootless.util import linux
from rootless.volumes import options


def test_no_options_is_a_plain_directory() -> None:
    assert options.parse("v", {}) == options.LocalOptions()


def test_tmpfs_keeps_data_options_and_flags() -> None:
    parsed = options.parse("v", {"type": "tmpfs", "device": "tmpfs", "o": "size=64m,mode=1777,noexec,uid=1000"})
    assert parsed.kind == "tmpfs" and parsed.device == "tmpfs"
    assert parsed.data == "size=64m,mode=1777,uid=1000"
    assert options.mount_flags(parsed) == linux.MS_NOEXEC


def test_bind_volume_of_a_directory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    parsed = options.parse("v", {"type": "none", "o": "bind,ro", "device": str(tmp_path) + "/"})
    assert parsed.kind == "none" and parsed.device == str(tmp_path) and parsed.read_only
    assert options.mount_flags(parsed) == linux.MS_BIND  # ro goes on the container's mount


@pytest.mark.parametrize("opts,message", [
    ({"type": "nfs", "o": "addr=10.0.0.1", "device": ":/export"}, "type=nfs o=addr=10.0.0.1: can't be mounted"),
    ({"type": "ext4", "device": "/dev/sdb1"}, "type=ext4 o=(none): can't be mounted by an unprivileged user"),
    ({"o": "size=1m"}, "type=(none) o=size=1m: can't be mounted"),
    ({"type": "none", "device": "/tmp"}, "type=none o=(none): can't be mounted"),
    ({"type": "tmpfs", "o": "size=1m,huge=always"}, "tmpfs option huge=always: not supported"),
    ({"type": "none", "o": "bind", "device": "relative"}, "device relative: a bind volume needs an absolute path"),
    ({"type": "none", "o": "bind", "device": "/no/such/dir"}, "device /no/such/dir: no such directory"),
    ({"type": "none", "o": "bind,uid=3", "device": "/tmp"}, "bind option uid=3: not supported"),
    ({"size": "10G"}, 'invalid option key: "size"'),
])
def test_what_can_not_be_applied_is_refused(opts, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
        options.parse("v", opts)
