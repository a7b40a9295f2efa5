from __future__ import annotations

import pytest

from rootless.cli.container import parse
from rootless.errors import InvalidArgument


@pytest.mark.parametrize("spec,expected", [
    ("8080", [("8080/tcp", {"HostIp": "", "HostPort": ""})]),
    ("8080:80", [("80/tcp", {"HostIp": "", "HostPort": "8080"})]),
    ("127.0.0.1:8080:80/udp", [("80/udp", {"HostIp": "127.0.0.1", "HostPort": "8080"})]),
    ("127.0.0.1::80", [("80/tcp", {"HostIp": "127.0.0.1", "HostPort": ""})]),
    ("8080-8081:80-81", [("80/tcp", {"HostIp": "", "HostPort": "8080"}),
                         ("81/tcp", {"HostIp": "", "HostPort": "8081"})]),
    ("80-81", [("80/tcp", {"HostIp": "", "HostPort": ""}), ("81/tcp", {"HostIp": "", "HostPort": ""})]),
    ("8000-8010:80", [("80/tcp", {"HostIp": "", "HostPort": "8000-8010"})]),
    ("[::1]:8080:80", [("80/tcp", {"HostIp": "::1", "HostPort": "8080"})]),
])
def test_port_specs(spec, expected):
    assert parse.parse_port_spec(spec) == expected


@pytest.mark.parametrize("spec", ["http", "8080:80/icmp", "1:2:3:4", "8080-8082:80-81", "0", "70000"])
def test_bad_port_specs(spec):
    with pytest.raises(InvalidArgument, match="invalid port"):
        parse.parse_port_spec(spec)


@pytest.mark.parametrize("spec,expected", [
    ("/data", (None, "/data")),
    ("vol:/data", ("vol:/data", None)),
    ("/abs/host:/mnt:ro", ("/abs/host:/mnt:ro", None)),
    ("./rel:/mnt:ro,z", ("/work/rel:/mnt:ro,z", None)),
])
def test_volume_specs(spec, expected):
    assert parse.parse_volume_spec(spec, cwd="/work") == expected


@pytest.mark.parametrize("spec", ["data", "vol:data", "a:/b:bogus", ":/x", "a:/b:ro:x"])
def test_bad_volume_specs(spec):
    with pytest.raises(InvalidArgument, match="invalid volume specification"):
        parse.parse_volume_spec(spec)


def test_mount_specs():
    assert parse.parse_mount_spec("type=bind,source=/a,target=/b,readonly") == {
        "Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": True}
    assert parse.parse_mount_spec("src=v,dst=/d") == {"Type": "volume", "Source": "v", "Target": "/d"}
    assert parse.parse_mount_spec("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770") == {
        "Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770}}
    for bad in ("type=bind,target=/b", "source=/a", "type=nfs,target=/x", "target=/x,colour=red"):
        with pytest.raises(InvalidArgument, match="invalid mount"):
            parse.parse_mount_spec(bad)


def test_env_file():
    text = "\ufeff# comment\n\nA=1\n  B = spaced \nC=\"quoted\"\nFROMENV\nUNSET\n"
    assert parse.parse_env_file(text, {"FROMENV": "x"}) == ["A=1", "B = spaced ", 'C="quoted"', "FROMENV=x"]
    with pytest.raises(InvalidArgument, match="contains whitespaces"):
        parse.parse_env_file("BAD NAME\n", {})
    with pytest.raises(InvalidArgument, match="has no name"):
        parse.parse_env_file("=x\n", {})


def test_env_flags():
    assert parse.parse_env(["A=1", "HOME", "NOPE"], {"HOME": "/root"}) == ["A=1", "HOME=/root"]


@pytest.mark.parametrize("text,expected", [("100", 100), ("1k", 1024), ("512m", 512 << 20),
                                           ("1.5g", 3 << 29), ("2mb", 2 << 20), ("7b", 7)])
def test_bytes(text, expected):
    assert parse.parse_bytes(text) == expected


def test_small_parsers():
    assert parse.parse_ulimit("nofile=1024:2048") == {"Name": "nofile", "Soft": 1024, "Hard": 2048}
    assert parse.parse_ulimit("nproc=10") == {"Name": "nproc", "Soft": 10, "Hard": 10}
    assert parse.parse_restart("on-failure:3") == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert parse.parse_add_host("db=10.0.0.2") == "db:10.0.0.2"
    assert parse.parse_add_host("db:10.0.0.2") == "db:10.0.0.2"
    assert parse.parse_cpus("1.5") == 1500000000
    assert parse.parse_tmpfs("/run:size=1m") == ("/run", "size=1m")
    assert parse.parse_expose("80-81/udp") == ["80/udp", "81/udp"]
    for call, arg in ((parse.parse_ulimit, "nofile=2:1"), (parse.parse_restart, "always:3"),
                      (parse.parse_restart, "sometimes"), (parse.parse_add_host, "nohost"),
                      (parse.parse_cpus, "x"), (parse.parse_bytes, "lots")):
        with pytest.raises(InvalidArgument):
            call(arg)


@pytest.mark.parametrize("spec", ["web", "web:ro", "web:rw", "web:z"])
def test_volumes_from_is_sent_as_given(spec: str) -> None:
    assert parse.parse_volumes_from(spec) == spec


@pytest.mark.parametrize("spec", ["", ":ro", "web:rx", "web:ro,bad"])
def test_volumes_from_refuses_a_bad_mode(spec: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid volumes-from"):
        parse.parse_volumes_from(spec)


@pytest.mark.parametrize("spec", ["", "keep-id", "keep-id:uid=1000,gid=1000", "host"])
def test_userns_modes(spec: str) -> None:
    assert parse.parse_userns(spec) == spec


def test_userns_refuses_other_modes() -> None:
    with pytest.raises(InvalidArgument, match="invalid userns: 'auto'"):
        parse.parse_userns("auto")
