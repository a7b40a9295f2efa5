"""--log-driver none|local|journald and json-file's compress (issue 11): the writers the monitor uses."""
from __future__ import annotations

import os
import socket
import struct

import pytest

from rootless.engine import log_drivers
from rootless.errors import FailedPrecondition, InvalidArgument
from rootless.runtime.logs import (JsonFileWriter, LogSettings, existing_log_files, journal_datagram, open_log,
                                   read_logs)


def parse_native(datagram: bytes) -> dict:
    """The journal-native protocol read back as journald reads it."""
    fields, pos = {}, 0
    while pos < len(datagram):
        newline = datagram.index(b"\n", pos)
        line = datagram[pos:newline]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            pos = newline + 1
        else:
            key, (size,) = line, struct.unpack("<Q", datagram[newline + 1:newline + 9])
            value = datagram[newline + 9:newline + 9 + size]
            assert datagram[newline + 9 + size:newline + 10 + size] == b"\n"
            pos = newline + 10 + size
        fields[key.decode()] = value.decode()
    return fields


IDENTITY = {"id": "c" * 64, "name": "web", "image": "busybox:1", "image_id": "sha256:" + "a" * 64}


def test_journald_sends_each_line_with_dockers_fields(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "journal.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as journal:
        journal.bind(path)
        settings = log_drivers.settings_of("journald", {"tag": "{{.Name}}/{{.ID}}"}, IDENTITY, journal_socket=path)
        writer = open_log(str(tmp_path / "c-json.log"), settings)
        writer.write("stdout", b"hello\nhalf")
        writer.write("stderr", b"multi\n")
        writer.close()  # the partial line goes out too
        got = [parse_native(journal.recv(65536)) for _ in range(3)]
    assert got[0] == {"MESSAGE": "hello", "PRIORITY": "6", "CONTAINER_ID": "c" * 12, "CONTAINER_ID_FULL": "c" * 64,
                      "CONTAINER_NAME": "web", "CONTAINER_TAG": "web/" + "c" * 12,
                      "SYSLOG_IDENTIFIER": "web/" + "c" * 12, "IMAGE_NAME": "busybox:1"}
    assert got[1]["MESSAGE"] == "multi" and got[1]["PRIORITY"] == "3"
    assert got[2]["MESSAGE"] == "half" and got[2]["CONTAINER_PARTIAL_MESSAGE"] == "true"
    # dual logging: the file has every line for `logs`
    assert [e.data for e in read_logs(str(tmp_path / "c-json.log"))] == [b"hello\n", b"multi\n", b"half"]


def test_a_value_with_a_newline_uses_the_length_form() -> None:
    assert journal_datagram(b"a\nb", {"K": "v"}) == b"MESSAGE\n" + struct.pack("<Q", 3) + b"a\nb\nK=v\n"


def test_journald_without_its_cache_keeps_no_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = log_drivers.settings_of("journald", {"cache-disabled": "true"}, IDENTITY,
                                       journal_socket=str(tmp_path / "absent.sock"))
    writer = open_log(str(tmp_path / "c-json.log"), settings)
    writer.write("stdout", b"lost to a missing journal, said once in the monitor's log\n")
    writer.close()
    assert not os.path.exists(tmp_path / "c-json.log")
    assert log_drivers.readable("journald", {"cache-disabled": "true"}) == log_drivers.NOT_READABLE


def test_a_missing_journal_socket_is_refused_naming_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = str(tmp_path / "run" / "systemd" / "journal" / "socket")
    with pytest.raises(InvalidArgument) as caught:
        log_drivers.require_journal(missing, InvalidArgument)
    assert f"{missing}: no such socket" in caught.value.message
    with pytest.raises(FailedPrecondition):
        log_drivers.require_journal(str(tmp_path))  # there, but not a socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as journal:
        journal.bind(str(tmp_path / "socket"))
        log_drivers.require_journal(str(tmp_path / "socket"))


def test_none_keeps_nothing_and_logs_refuse_in_mobys_words(tmp_path) -> None:  # type: ignore[no-untyped-def]
    writer = open_log(str(tmp_path / "c-json.log"), LogSettings(driver="none", keep_file=False))
    writer.write("stdout", b"gone\n")
    writer.close()
    assert os.listdir(tmp_path) == []
    assert log_drivers.readable("none", {}) == "configured logging driver does not support reading"
    assert log_drivers.readable("local", {}) is None


def test_compressed_rotation_is_read_back_in_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "c-json.log")
    writer = JsonFileWriter(path, max_size=300, max_files=3, compress=True)
    for number in range(40):
        writer.write("stdout", b"line-%02d\n" % number)
    writer.close()
    assert sorted(os.listdir(tmp_path)) == ["c-json.log", "c-json.log.1.gz", "c-json.log.2.gz"]
    assert [os.path.basename(p) for p in existing_log_files(path, 3)] == \
        ["c-json.log.2.gz", "c-json.log.1.gz", "c-json.log"]
    lines = [e.data for e in read_logs(path, max_files=3)]
    numbers = [int(line[5:7]) for line in lines]
    assert numbers == list(range(numbers[0], 40)) and numbers[0] > 0
    assert [e.data for e in read_logs(path, max_files=3, tail=2)] == [b"line-38\n", b"line-39\n"]


def test_a_crash_before_compression_finished_reads_the_plain_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "c-json.log")
    for name in ("c-json.log.1", "c-json.log.1.gz.tmp"):
        (tmp_path / name).write_bytes(b'{"log":"old\\n","stream":"stdout","time":"2026-01-01T00:00:00Z"}\n')
    (tmp_path / "c-json.log").write_bytes(b"")
    assert [e.data for e in read_logs(path, max_files=2)] == [b"old\n"]


@pytest.mark.parametrize("tag", ["{{.Nope}}", "{{json .}}"])
def test_a_tag_template_rootless_cannot_expand_is_refused(tag: str) -> None:
    with pytest.raises(InvalidArgument, match="rootless expands only"):
        log_drivers.settings_of("journald", {"tag": tag}, IDENTITY)
