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
