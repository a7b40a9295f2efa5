"""Who is at the other end of a UNIX socket (SO_PEERCRED), and refusing strangers.

Another local user is hostile: one who pre-creates our runtime dir can put a
socket there that answers /_ping like rootlessd and then reads whatever the
CLI sends (registry passwords, `run -e SECRET=...`) or answers `cp` with a tar
of its choosing. The kernel reports the uid that created the listening socket,
so the client checks it right after connect(2), before sending a byte.

The uid comes translated into the caller's user namespace: the owning user
appears as 0 to a caller inside the engine's namespace and as its own uid on
the host, so "the peer's uid is our euid" holds in both places. Host root and
every other user appear as the overflow uid (65534) inside the namespace.
"""
from __future__ import annotations

import _socket
import os

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Optional

from rootless.util.record import Record

# struct ucred {pid_t pid; uid_t uid; gid_t gid;}: three C ints (4 bytes on Linux), read with
# memoryview.cast: the struct module would be one more import for every CLI start.
_UCRED_SIZE = 12


class PeerCred(Record):
    """The pid, uid and gid of the process at the other end, as the kernel reports them."""

    pid: int
    uid: int
    gid: int

    def __init__(self, pid: int, uid: int, gid: int) -> None:
        self._set(pid=pid, uid=uid, gid=gid)


def peer_cred(sock: _socket.socket) -> PeerCred:
    """SO_PEERCRED of a connected AF_UNIX socket."""
    raw = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, _UCRED_SIZE)
    pid, uid, gid = memoryview(raw).cast("i")
    return PeerCred(pid, uid, gid)


def check_peer_is_us(sock: _socket.socket, path: str, euid: Optional[int] = None) -> PeerCred:
    """Refuse a socket served by another user, before anything is sent on it."""
    cred = peer_cred(sock)
    me = os.geteuid() if euid is None else euid
    if cred.uid != me:
        from rootless.errors import PermissionDenied  # here: errors.py is ~0.3 ms of every `ps` (cli/fast.py)

        raise PermissionDenied(
            f"can't use rootlessd socket: {path}: served by uid {cred.uid} (pid {cred.pid}), not you (uid {me})",
            hint="another user may be impersonating rootlessd; nothing was sent. Use a private runtime dir: "
                 "set XDG_RUNTIME_DIR or ROOTLESS_RUNTIME_DIR, or ask an admin to remove the socket's directory",
        )
    return cred
