"""SO_PEERCRED: who serves a socket, and refusing a socket another user serves."""
from __future__ import annotations

import os
import socket

import pytest

from rootless.errors import PermissionDenied
from rootless.util.peercred import check_peer_is_us, peer_cred


def test_peer_cred_of_a_socketpair_is_this_process() -> None:
    left, right = socket.socketpair()
    with left, right:
        cred = peer_cred(left)
    assert (cred.pid, cred.uid, cred.gid) == (os.getpid(), os.geteuid(), os.getegid())


def test_a_peer_of_ours_passes() -> None:
    left, right = socket.socketpair()
    with left, right:
        assert check_peer_is_us(left, "/run/x.sock").uid == os.geteuid()


def test_a_peer_of_another_uid_is_refused_naming_the_socket_and_uid() -> None:
    left, right = socket.socketpair()
    me = os.geteuid()
    with left, right:
        with pytest.raises(PermissionDenied) as err:
            check_peer_is_us(left, "/tmp/rootless-1000/rootless.sock", euid=me + 1)
    assert err.value.message == (f"can't use rootlessd socket: /tmp/rootless-1000/rootless.sock: "
                                 f"served by uid {me} (pid {os.getpid()}), not you (uid {me + 1})")
    assert "nothing was sent" in (err.value.hint or "")
