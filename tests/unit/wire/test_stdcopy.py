"""wire.stdcopy: the frame writer (server) and the demuxer (client, engine) agree byte for byte."""
from __future__ import annotations

import struct

import pytest

from rootless.errors import Internal
from rootless.wire import stdcopy


def raw_frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(data)) + data


def test_frame_header_is_stream_three_zeros_and_length() -> None:
    frame = stdcopy.frame(1, b"hello")
    assert frame == bytes([1, 0, 0, 0]) + struct.pack(">I", 5) + b"hello"


def test_frame_accepts_stream_names() -> None:
    assert stdcopy.frame("stderr", b"x")[0] == 2
    assert stdcopy.frame("stdout", b"") == b"\x01\x00\x00\x00\x00\x00\x00\x00"
    assert stdcopy.NAME_OF_STREAM[stdcopy.STDERR] == "stderr"


def test_frame_refuses_unknown_streams() -> None:
    with pytest.raises(ValueError):
        stdcopy.frame(4, b"x")
    with pytest.raises(KeyError):
        stdcopy.frame("stdlog", b"x")


def test_large_payload_is_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stdcopy, "MAX_FRAME", 4)
    frames = stdcopy.Demuxer().feed(stdcopy.frame(1, b"abcdefghij"))
    assert frames == [(1, b"abcd"), (1, b"efgh"), (1, b"ij")]


def test_whole_frames() -> None:
    data = raw_frame(1, b"out\n") + raw_frame(2, b"err\n")
    assert list(stdcopy.demux([data])) == [(1, b"out\n"), (2, b"err\n")]


def test_frames_split_at_every_byte() -> None:
    data = stdcopy.frame(1, b"hello") + stdcopy.frame(2, b"") + stdcopy.frame(1, b"x" * 70000)
    chunks = [data[i:i + 1] for i in range(len(data))]
    assert list(stdcopy.demux(chunks)) == [(1, b"hello"), (2, b""), (1, b"x" * 70000)]


def test_partial_frame_is_held_back() -> None:
    demuxer = stdcopy.Demuxer()
    whole = raw_frame(1, b"abcdef")
    assert demuxer.feed(whole[:10]) == []
    assert demuxer.pending == 10
    assert demuxer.feed(whole[10:]) == [(1, b"abcdef")]
    assert demuxer.pending == 0


def test_systemerr_frame_raises() -> None:
    with pytest.raises(Internal, match="error from daemon in stream: boom"):
        list(stdcopy.demux([raw_frame(1, b"ok"), stdcopy.frame(stdcopy.SYSTEMERR, b"boom\n")]))
