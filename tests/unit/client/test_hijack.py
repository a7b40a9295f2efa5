from __future__ import annotations

import io
import logging
import os
import socket
import struct

import pytest

from rootless.client import hijack
from rootless.client.hijack import EscapeFilter, Session, parse_detach_keys
from rootless.client.transport import HttpResponse
from rootless.errors import InvalidArgument


def test_parse_detach_keys():
    assert parse_detach_keys("") == b"\x10\x11"
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("a,ctrl-@,ctrl-[") == b"a\x00\x1b"
    with pytest.raises(InvalidArgument):
        parse_detach_keys("ctrl-pp")


def test_escape_filter_notes_the_sequence_and_cuts_after_it():
    escape = EscapeFilter(b"\x10\x11")
    assert escape.feed(b"ab\x10") == b"ab\x10"
    assert escape.feed(b"x") == b"x"
    assert escape.feed(b"\x10\x10") == b"\x10\x10"
    assert not escape.detached
    assert escape.feed(b"\x11rest") == b"\x11"
    assert escape.detached


def frame(stream, data):
    return struct.pack(">BxxxI", stream, len(data)) + data


def _session(payload: bytes, tty: bool, stdin_data: bytes = None):
    ours, theirs = socket.socketpair()
    theirs.sendall(payload)
    out, err = io.BytesIO(), io.BytesIO()
    stdin = None
    if stdin_data is not None:
        read_end, write_end = os.pipe()
        os.write(write_end, stdin_data)
        os.close(write_end)
        stdin = read_end
    else:
        theirs.shutdown(socket.SHUT_WR)
    response = HttpResponse(ours, ours.makefile("rb"), 101, {})
    return Session(response, tty, stdin, out, err, b"\x10\x11"), theirs, out, err


def test_session_demuxes_frames():
    session, theirs, out, err = _session(frame(1, b"out\n") + frame(2, b"err\n"), tty=False)
    session.run()
    assert (out.getvalue(), err.getvalue()) == (b"out\n", b"err\n")
    theirs.close()


def test_session_tty_is_raw():
    session, theirs, out, _ = _session(b"\x01\x00raw", tty=True)
    session.run()
    assert out.getvalue() == b"\x01\x00raw"
    theirs.close()


def test_session_half_closes_after_stdin_eof():
    session, theirs, out, _ = _session(b"", tty=True, stdin_data=b"hello")
    import threading
    received = []

    def echo():
        data = b""
        while True:
            chunk = theirs.recv(100)
            if not chunk:
                break
            data += chunk
        received.append(data)
        theirs.sendall(data.upper())
        theirs.close()

    thread = threading.Thread(target=echo)
    thread.start()
    session.run()
    thread.join(5)
    assert received == [b"hello"]
    assert out.getvalue() == b"HELLO"


def test_debug_logs_once_logging_is_in_use(caplog):
    with caplog.at_level(logging.DEBUG, logger="rootless.client.hijack"):
        hijack._debug("resize failed: %s", "gone")
    assert caplog.messages == ["resize failed: gone"]
