from __future__ import annotations

import gc
import os
import socket
import sys

from rootless.runtime import zygote


def test_fork_monitor_declines_when_the_zygote_cannot_start(fp):
    # The zygote exits at once: the request can't be delivered, so the caller execs instead.
    fp.register([sys.executable, "-m", "rootless.runtime.zygote", fp.any()], returncode=1)
    z = zygote.Zygote(sys.executable)
    read_fd, write_fd = os.pipe()
    try:
        assert z.fork_monitor("/cfg.json", write_fd, 1.0) is False
    finally:
        z.close()
        os.close(read_fd)
        os.close(write_fd)


def test_main_usage():
    assert zygote.main(["zygote"]) == 2


class _FakeMonitor:
    """Stands in for rootless.runtime.monitor in a forked child: reports the child's gc state."""

    @staticmethod
    def detach_and_run(config_path: str, ready_fd: int) -> int:
        os.write(ready_fd, f"{config_path} {gc.isenabled()} {gc.get_freeze_count() > 0}".encode())
        return 0


def test_monitors_are_forked_with_the_zygotes_objects_frozen(monkeypatch):
    # A collection in a monitor writes to every object it visits, un-sharing the zygote's
    # pages: the zygote freezes its objects before each fork, the child collects only its own.
    monkeypatch.setattr(zygote, "_preload", lambda: _FakeMonitor)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    read_fd, write_fd = os.pipe()
    try:
        socket.send_fds(ours, [b"/cfg.json"], [write_fd])
        os.close(write_fd)
        ours.shutdown(socket.SHUT_WR)  # the zygote's next receive sees EOF: serve returns
        assert zygote.serve(theirs) == 0
        assert ours.recv(100) == zygote.OK
        assert os.read(read_fd, 100) == b"/cfg.json True True"
    finally:
        gc.unfreeze()
        gc.enable()
        os.close(read_fd)
        ours.close()
        theirs.close()


class _DyingChild:
    """A zygote process killed after the liveness check: poll() still says running."""

    pid = 0

    def poll(self):  # type: ignore[no-untyped-def]
        return None


def test_a_zygote_that_dies_with_the_request_unread_declines_it(monkeypatch):
    client = zygote.Zygote(sys.executable)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    client._conn, client._child = ours, _DyingChild()
    monkeypatch.setattr(zygote.proc, "terminate", lambda child, timeout: None)
    real_send_fds = socket.send_fds

    def send_then_die(sock, buffers, fds):  # type: ignore[no-untyped-def]
        sent = real_send_fds(sock, buffers, fds)
        theirs.close()  # the zygote dies with the request (and its fd) unread: ECONNRESET
        return sent

    monkeypatch.setattr(zygote.socket, "send_fds", send_then_die)
    ready_r, ready_w = os.pipe()
    try:
        assert client.fork_monitor("/x/config.json", ready_w, 5.0) is False  # the caller execs one
    finally:
        os.close(ready_r)
        os.close(ready_w)
    assert client._conn is None  # a new zygote next time
