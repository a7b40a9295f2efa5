from __future__ import annotations

import struct

from rootless.runtime import stdcopy


def test_frame_header_is_stream_three_zeros_and_length():
    frame = stdcopy.stdcopy_frame(1, b"hello")
    assert frame[:8] == bytes([1, 0, 0, 0]) + struct.pack(">I", 5)
    assert frame[8:] == b"hello"


def test_frame_accepts_stream_names():
    assert stdcopy.stdcopy_frame("stderr", b"x")[0] == 2
    assert stdcopy.stdcopy_frame("stdout", b"")[:8] == b"\x01\x00\x00\x00\x00\x00\x00\x00"


def test_large_payload_is_split(monkeypatch):
    monkeypatch.setattr(stdcopy, "MAX_FRAME", 4)
    frames = stdcopy.FrameDecoder().feed(stdcopy.stdcopy_frame(1, b"abcdefghij"))
    assert frames == [(1, b"abcd"), (1, b"efgh"), (1, b"ij")]


def test_decoder_handles_split_input():
    data = stdcopy.stdcopy_frame(1, b"out") + stdcopy.stdcopy_frame(2, b"err")
    decoder = stdcopy.FrameDecoder()
    got = []
    for byte in data:
        got += decoder.feed(bytes([byte]))
    assert got == [(1, b"out"), (2, b"err")]
    assert decoder.pending == 0
