from __future__ import annotations

import struct

import pytest

from rootless.client.stdcopy import Demuxer, demux
from rootless.errors import Internal


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(data)) + data


def test_whole_frames():
    data = frame(1, b"out\n") + frame(2, b"err\n")
    assert list(demux([data])) == [(1, b"out\n"), (2, b"err\n")]


def test_frames_split_at_every_byte():
    data = frame(1, b"hello") + frame(2, b"") + frame(1, b"x" * 70000)
    chunks = [data[i:i + 1] for i in range(len(data))]
    assert list(demux(chunks)) == [(1, b"hello"), (2, b""), (1, b"x" * 70000)]


def test_partial_frame_is_held_back():
    demuxer = Demuxer()
    whole = frame(1, b"abcdef")
    assert demuxer.feed(whole[:10]) == []
    assert demuxer.leftover == 10
    assert demuxer.feed(whole[10:]) == [(1, b"abcdef")]
    assert demuxer.leftover == 0


def test_systemerr_frame_raises():
    with pytest.raises(Internal, match="error from daemon in stream: boom"):
        list(demux([frame(3, b"boom\n")]))
