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


# -- conmon's k8s-file lines (runtime/conmon.py) ----------------------------------------------

K8S = (b"2023-11-14T22:13:20.000000001+00:00 stdout F one\n"
       b"2023-11-14T22:13:20.000000002+00:00 stdout P two-\n"
       b"2023-11-14T22:13:20.000000003+00:00 stderr F err\n"
       b"2023-11-14T22:13:20.000000004+00:00 stdout F half\n"
       b"2023-11-14T22:13:20.000000005+00:00 stdout F \n"
       b"2023-11-14T22:13:21.000000000+01:00 stdout F with  spaces \n")


def test_k8s_lines_read_as_json_file_entries(tmp_path):
    path = tmp_path / "ctr.log"
    path.write_bytes(K8S)
    entries = list(read_logs(str(path)))
    assert [(e.stream, e.data) for e in entries] == [
        ("stdout", b"one\n"), ("stderr", b"err\n"), ("stdout", b"two-half\n"), ("stdout", b"\n"),
        ("stdout", b"with  spaces \n")]
    assert entries[2].time_ns == T0 + 2  # a joined line has its first piece's time
    assert entries[4].time_ns == T0 + 10**9 - 3600 * 10**9  # the offset is honoured


def test_k8s_tail_since_until_count_joined_lines(tmp_path):
    path = tmp_path / "ctr.log"
    path.write_bytes(K8S)
    assert [e.data for e in read_logs(str(path), tail=2)] == [b"\n", b"with  spaces \n"]
    assert [e.data for e in read_logs(str(path), since_ns=T0 + 3, until_ns=T0 + 5)] == [b"err\n", b"\n"]


def test_k8s_same_output_as_json_file(tmp_path):
    """`docker logs` reads the same whichever monitor wrote the file."""
    json_path = str(tmp_path / "json.log")
    writer = JsonFileWriter(json_path)
    for stream, data in (("stdout", b"one\n"), ("stderr", b"err\n"), ("stdout", b"two-half\n")):
        writer.write(stream, data, now_ns=T0)
    writer.close()
    k8s_path = tmp_path / "k8s.log"
    k8s_path.write_bytes(b"2023-11-14T22:13:20Z stdout F one\n2023-11-14T22:13:20Z stderr F err\n"
                         b"2023-11-14T22:13:20Z stdout P two-\n2023-11-14T22:13:20Z stdout F half\n")
    as_json = [(e.stream, e.data, e.time_ns) for e in read_logs(json_path)]
    assert [(e.stream, e.data, e.time_ns) for e in read_logs(str(k8s_path))] == as_json


def test_k8s_an_unfinished_line_and_malformed_ones(tmp_path):
    path = tmp_path / "ctr.log"
    path.write_bytes(b"garbage\n2023-11-14T22:13:20Z stdin F no\n2023-11-14T22:13:20Z stdout X no\n"
                     b"2023-11-14T22:13:20Z stdout P last words\n2023-11-14T22:13:20Z stdout F torn")
    assert [e.data for e in read_logs(str(path))] == [b"last words"]  # the container stopped mid-line


def test_k8s_pieces_are_cut_at_max_partial(tmp_path):
    piece = b"x" * 8192
    path = tmp_path / "ctr.log"
    path.write_bytes(b"".join(b"2023-11-14T22:13:20Z stdout P " + piece + b"\n" for _ in range(3))
                     + b"2023-11-14T22:13:20Z stdout F end\n")
    assert [len(e.data) for e in read_logs(str(path))] == [16384, 8192 + 4]


def test_a_file_both_monitors_wrote_reads_whole(tmp_path):
    path = str(tmp_path / "ctr.log")
    writer = JsonFileWriter(path)
    writer.write("stdout", b"python\n", now_ns=T0)
    writer.close()
    with open(path, "ab") as f:
        f.write(b"2023-11-14T22:13:21Z stdout F conmon\n")
    assert [e.data for e in read_logs(path)] == [b"python\n", b"conmon\n"]


def _follow_in_thread(path):
    """A thread following path's log while the returned event is set; what it read so far in got."""
    running = threading.Event()
    running.set()
    got = []

    def follow():
        for entry in read_logs(str(path), follow=True, is_running=running.is_set):
            got.append(entry.data)

    thread = threading.Thread(target=follow)
    thread.start()
    return running, got, thread


def test_follow_k8s_waits_for_a_line_end(tmp_path):
    path = tmp_path / "ctr.log"
    path.write_bytes(b"2023-11-14T22:13:20Z stdout P par\n")
    running, got, thread = _follow_in_thread(path)
    time.sleep(0.3)
    assert got == []  # a piece waits for the rest of its line
    with open(path, "ab") as f:
        f.write(b"2023-11-14T22:13:20Z stdout F tial\n2023-11-14T22:13:21Z stdout P cut\n")
    time.sleep(0.3)
    running.clear()
    thread.join(5)
    assert got == [b"partial\n", b"cut"]  # at the end, what never ended comes out


def test_follow_k8s_gives_a_waiting_prompt_after_a_second(tmp_path, monkeypatch):
    """A line without its end (a prompt) comes out after PARTIAL_FLUSH_SECONDS, as our json-file writer flushes it."""
    monkeypatch.setattr(logs, "PARTIAL_FLUSH_SECONDS", 0.2)
    path = tmp_path / "ctr.log"
    path.write_bytes(b"2023-11-14T22:13:20Z stdout P password: \n")
    running, got, thread = _follow_in_thread(path)
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    assert got == [b"password: "]
    with open(path, "ab") as f:
        f.write(b"2023-11-14T22:13:21Z stdout F ok\n")
    time.sleep(0.3)
    running.clear()
    thread.join(5)
    assert got == [b"password: ", b"ok\n"]
