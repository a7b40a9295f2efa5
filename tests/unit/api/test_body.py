"""Request framing: Content-Length and chunk sizes as Go's net/http accepts them, nothing else."""
from __future__ import annotations

import io

import pytest

from rootless.api.body import ChunkedReader, LengthReader, body_length, parse_chunk_size
from rootless.errors import InvalidArgument


@pytest.mark.parametrize("lengths, encodings, expected", [
    ([], [], 0),
    (["12"], [], 12),
    ([" 12 "], [], 12),
    (["12", "12"], [], 12),  # repeated, same value: as Go
    ([], ["chunked"], None),
    ([], ["Chunked"], None),
])
def test_body_length_accepts(lengths, encodings, expected):
    assert body_length(lengths, encodings) == expected


@pytest.mark.parametrize("lengths, encodings, message", [
    (["-1"], [], "invalid Content-Length: '-1'"),
    (["+5"], [], "invalid Content-Length"),
    (["abc"], [], "invalid Content-Length"),
    (["0x10"], [], "invalid Content-Length"),
    (["1 2"], [], "invalid Content-Length"),
    (["2, 2"], [], "invalid Content-Length"),
    ([""], [], "invalid Content-Length"),
    (["9" * 19], [], "invalid Content-Length"),
    (["2", "3"], [], "conflicting Content-Length values: 2, 3"),
    (["2"], ["chunked"], "both Content-Length and Transfer-Encoding"),
    ([], ["gzip"], "unsupported Transfer-Encoding"),
    ([], ["gzip, chunked"], "unsupported Transfer-Encoding"),
    ([], ["chunked", "chunked"], "unsupported Transfer-Encoding"),
])
def test_body_length_refuses(lengths, encodings, message):
    with pytest.raises(InvalidArgument, match=message):
        body_length(lengths, encodings)


def test_chunk_sizes():
    assert parse_chunk_size(b"1a\r\n") == 26
    assert parse_chunk_size(b"1A;name=value\r\n") == 26
    assert parse_chunk_size(b"0\n") == 0
    for bad in (b"-2\r\n", b"zz\r\n", b"\r\n", b"0x1\r\n", b"1 2\r\n", b"f" * 16 + b"\r\n"):
        with pytest.raises(InvalidArgument, match="invalid chunk size"):
            parse_chunk_size(bad)
    with pytest.raises(InvalidArgument, match="ended early"):
        parse_chunk_size(b"1a")


def chunked(*chunks: bytes, tail: bytes = b"0\r\n\r\n") -> io.BufferedReader:
    raw = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + tail
    return io.BufferedReader(io.BytesIO(raw + b"NEXT"))  # type: ignore[arg-type]


def test_chunked_reader_reads_sizes_and_stops_at_the_end():
    raw = chunked(b"hello ", b"world", tail=b"0\r\nX-Trailer: 1\r\n\r\n")
    reader = ChunkedReader(raw)
    assert reader.read(3) == b"hel"
    assert reader.read() == b"lo world"
    assert reader.done and not reader.broken
    assert reader.read() == b""
    assert raw.read() == b"NEXT"  # the next request is left where it starts


@pytest.mark.parametrize("raw, message", [
    (b"5\r\nhello\r\n-1\r\n", "invalid chunk size"),
    (b"5\r\nhelloXX0\r\n\r\n", "not followed by CRLF"),
    (b"5\r\nhel", "ended early"),
    (b"5\r\nhello\r\n0\r\n" + b"X: y\r\n" * 100, "too many trailer lines"),
    (b"f" * 5000, "chunk size line too long"),
])
def test_chunked_reader_refuses_bad_frames(raw, message):
    reader = ChunkedReader(io.BufferedReader(io.BytesIO(raw)))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=message):
        reader.read()
    assert reader.broken
    assert not reader.discard(1 << 20)


def test_length_reader_and_truncation():
    raw = io.BufferedReader(io.BytesIO(b"0123456789NEXT"))  # type: ignore[arg-type]
    reader = LengthReader(raw, 10)
    assert reader.read(4) == b"0123" and not reader.done
    assert reader.read() == b"456789" and reader.done
    assert raw.read() == b"NEXT"
    short = LengthReader(io.BufferedReader(io.BytesIO(b"0123")), 10)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="6 bytes missing"):
        short.read()
    assert short.broken


def test_discard_drops_small_bodies_only():
    small = LengthReader(io.BufferedReader(io.BytesIO(b"x" * 100)), 100)  # type: ignore[arg-type]
    assert small.discard(100) and small.done
    big = LengthReader(io.BufferedReader(io.BytesIO(b"x" * 100)), 100)  # type: ignore[arg-type]
    assert not big.discard(99) and big.consumed == 0  # not even started: the connection closes
    stream = ChunkedReader(chunked(b"x" * 60, b"y" * 60))
    assert not stream.discard(50)
    assert ChunkedReader(chunked(b"x" * 60)).discard(100)


def test_the_first_read_sends_100_continue_once():
    sent = []
    reader = LengthReader(io.BufferedReader(io.BytesIO(b"abcd")), 4, lambda: sent.append(1))  # type: ignore[arg-type]
    reader.read(2)
    reader.read(2)
    assert sent == [1]
