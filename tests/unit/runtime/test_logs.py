from __future__ import annotations

import json
import os
import threading
import time

from rootless.runtime import logs
from rootless.runtime.logs import JsonFileWriter, read_logs

T0 = 1_700_000_000_000_000_000


def lines_of(path):
    with open(path, "rb") as f:
        return [json.loads(line) for line in f]


def test_rfc3339_round_trip():
    text = logs.format_rfc3339_ns(T0 + 123)
    assert text == "2023-11-14T22:13:20.000000123Z"
    assert logs.parse_rfc3339_ns(text) == T0 + 123


def test_parse_rfc3339_with_offset_and_short_fraction():
    assert logs.parse_rfc3339_ns("2023-11-14T23:13:20.5+01:00") == T0 + 500_000_000
    assert logs.parse_rfc3339_ns("2023-11-14T22:13:20Z") == T0


def test_writer_writes_docker_json_lines(tmp_path):
    path = str(tmp_path / "ctr-json.log")
    writer = JsonFileWriter(path)
    writer.write("stdout", b"one\ntwo\n", now_ns=T0)
    writer.write("stderr", b"oops\n", now_ns=T0)
    writer.close()
    assert lines_of(path) == [
        {"log": "one\n", "stream": "stdout", "time": "2023-11-14T22:13:20.000000000Z"},
        {"log": "two\n", "stream": "stdout", "time": "2023-11-14T22:13:20.000000000Z"},
        {"log": "oops\n", "stream": "stderr", "time": "2023-11-14T22:13:20.000000000Z"},
    ]


def test_partial_lines_wait_for_newline_per_stream(tmp_path):
    path = str(tmp_path / "log")
    writer = JsonFileWriter(path)
    writer.write("stdout", b"hel")
    writer.write("stderr", b"e")
    writer.write("stdout", b"lo\nwor")
    assert [r["log"] for r in lines_of(path)] == ["hello\n"]
    writer.flush_partial(older_than=60)
    assert len(lines_of(path)) == 1
    writer.flush_partial(older_than=0)
    assert sorted(r["log"] for r in lines_of(path)) == ["e", "hello\n", "wor"]
    writer.close()


def test_long_lines_split_at_16k(tmp_path):
    path = str(tmp_path / "log")
    writer = JsonFileWriter(path)
    writer.write("stdout", b"x" * (logs.MAX_PARTIAL + 10) + b"\n")
    writer.close()
    assert [len(r["log"]) for r in lines_of(path)] == [logs.MAX_PARTIAL, 11]


def test_rotation_keeps_max_files(tmp_path):
    path = str(tmp_path / "log")
    writer = JsonFileWriter(path, max_size=200, max_files=3)
    for n in range(20):
        writer.write("stdout", f"line {n:02d}\n".encode())
    writer.close()
    assert sorted(os.listdir(tmp_path)) == ["log", "log.1", "log.2"]
    assert all(os.path.getsize(tmp_path / name) <= 200 for name in ("log", "log.1", "log.2"))
    got = [e.data for e in read_logs(path, max_files=3)]
    assert got[-1] == b"line 19\n"
    assert got == sorted(got)
    numbers = [int(e[5:7]) for e in got]
    assert numbers == list(range(numbers[0], 20))


def test_rotation_with_one_file_truncates(tmp_path):
    path = str(tmp_path / "log")
    writer = JsonFileWriter(path, max_size=100, max_files=1)
    for n in range(10):
        writer.write("stdout", f"line {n}\n".encode())
    writer.close()
    assert os.listdir(tmp_path) == ["log"]
    assert [e.data for e in read_logs(path)][-1] == b"line 9\n"


def write_numbered(path, count, start_ns=T0):
    writer = JsonFileWriter(path)
    for n in range(count):
        writer.write("stdout" if n % 2 == 0 else "stderr", f"{n}\n".encode(), now_ns=start_ns + n * 10**9)
    writer.close()


def test_read_yields_stream_time_bytes(tmp_path):
    path = str(tmp_path / "log")
    write_numbered(path, 2)
    entries = list(read_logs(path))
    assert entries[0] == ("stdout", "2023-11-14T22:13:20.000000000Z", b"0\n")
    assert entries[1].stream == "stderr"


def test_tail(tmp_path):
    path = str(tmp_path / "log")
    write_numbered(path, 10)
    assert [e.data for e in read_logs(path, tail=3)] == [b"7\n", b"8\n", b"9\n"]
    assert list(read_logs(path, tail=0)) == []
    assert len(list(read_logs(path, tail=100))) == 10


def test_since_until(tmp_path):
    path = str(tmp_path / "log")
    write_numbered(path, 10)
    got = read_logs(path, since_ns=T0 + 3 * 10**9, until_ns=T0 + 5 * 10**9)
    assert [e.data for e in got] == [b"3\n", b"4\n", b"5\n"]


def test_missing_file_reads_empty(tmp_path):
    assert list(read_logs(str(tmp_path / "none"), tail=5)) == []


def test_torn_last_line_is_not_yielded(tmp_path):
    path = tmp_path / "log"
    path.write_bytes(b'{"log":"a\\n","stream":"stdout","time":"2023-11-14T22:13:20Z"}\n{"log":"b')
    assert [e.data for e in read_logs(str(path))] == [b"a\n"]


def test_follow_sees_growth_and_rotation_until_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "FOLLOW_POLL_SECONDS", 0.01)
    path = str(tmp_path / "log")
    writer = JsonFileWriter(path, max_size=120, max_files=2)
    writer.write("stdout", b"first\n")
    running = threading.Event()
    running.set()

    def produce():
        time.sleep(0.2)  # let the reader take its tail first
        for n in range(8):
            writer.write("stdout", f"more {n}\n".encode())
            time.sleep(0.02)
        writer.close()
        running.clear()

    thread = threading.Thread(target=produce)
    thread.start()
    got = [e.data for e in read_logs(path, max_files=2, tail=1, follow=True, is_running=running.is_set)]
    thread.join()
    assert got == [b"first\n"] + [f"more {n}\n".encode() for n in range(8)]
