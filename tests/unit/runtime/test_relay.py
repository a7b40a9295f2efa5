from __future__ import annotations

import io
import os
import socket
import threading

from rootless.runtime import relay, stdcopy
from rootless.runtime.supervisor import ExecProcess


def read_all(sock):
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def test_attach_passes_frames_and_stdin_with_eof():
    client, client_peer = socket.socketpair()
    monitor, monitor_peer = socket.socketpair()
    frames = stdcopy.stdcopy_frame(1, b"out") + stdcopy.stdcopy_frame(2, b"err")

    def fake_monitor():
        stdin = read_all(monitor_peer)  # until the relay half-closes
        monitor_peer.sendall(frames + stdcopy.stdcopy_frame(1, b"echo:" + stdin))
        monitor_peer.close()

    thread = threading.Thread(target=fake_monitor)
    thread.start()
    relay.relay_attach(client, io.BytesIO(b"typed"), monitor, tty=False, stdin=True)
    thread.join()
    got = stdcopy.FrameDecoder().feed(read_all(client_peer))
    assert got == [(1, b"out"), (2, b"err"), (1, b"echo:typed")]


def test_attach_with_tty_unwraps_frames():
    client, client_peer = socket.socketpair()
    monitor, monitor_peer = socket.socketpair()
    monitor_peer.sendall(stdcopy.stdcopy_frame(1, b"raw ") + stdcopy.stdcopy_frame(1, b"bytes"))
    monitor_peer.close()
    relay.relay_attach(client, io.BytesIO(b""), monitor, tty=True, stdin=False)
    assert read_all(client_peer) == b"raw bytes"


class FakeChild:
    """Stands in for the crun exec Popen: cat-like, stdin -> stdout, then 'done' on stderr."""

    def __init__(self):
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.stdin = os.fdopen(in_w, "wb")
        self.stdout = os.fdopen(out_r, "rb")
        self.stderr = os.fdopen(err_r, "rb")
        self.pid = 1
        self.thread = threading.Thread(target=self._run, args=(in_r, out_w, err_w))
        self.thread.start()

    def _run(self, in_r, out_w, err_w):
        with os.fdopen(in_r, "rb") as src, os.fdopen(out_w, "wb") as out, os.fdopen(err_w, "wb") as err:
            out.write(src.read())
            err.write(b"done")

    def wait(self, timeout=None):
        self.thread.join(timeout)
        return 5


def test_exec_frames_both_streams_and_returns_exit_code(tmp_path):
    client, client_peer = socket.socketpair()
    process = ExecProcess(FakeChild(), str(tmp_path / "p.json"))
    code = relay.relay_exec(client, io.BytesIO(b"hello"), process, stdin=True)
    frames = stdcopy.FrameDecoder().feed(read_all(client_peer))
    assert code == 5
    assert (1, b"hello") in frames and (2, b"done") in frames
    process.close()
