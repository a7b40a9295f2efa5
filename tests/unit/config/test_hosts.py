"""Issue 14: docker's host addresses, parsed once for listeners and clients."""
from __future__ import annotations

import pytest

from rootless.config.hosts import Host, is_loopback, parse_host
from rootless.errors import InvalidArgument


@pytest.mark.parametrize("text,expected", [
    ("unix:///run/user/1000/rootless.sock", Host("unix", path="/run/user/1000/rootless.sock")),
    ("tcp://127.0.0.1:2376", Host("tcp", host="127.0.0.1", port=2376)),
    ("tcp://example.org", Host("tcp", host="example.org", port=2376)),
    ("tcp://[::1]:4000", Host("tcp", host="::1", port=4000)),
    ("ssh://alice@server", Host("ssh", host="server", port=22, user="alice")),
    ("ssh://alice@server:2222", Host("ssh", host="server", port=2222, user="alice")),
    ("ssh://server", Host("ssh", host="server", port=22)),
])
def test_parse_host(text: str, expected: Host) -> None:
    assert parse_host(text) == expected


def test_plain_tcp_defaults_to_dockers_plain_port() -> None:
    assert parse_host("tcp://127.0.0.1", tls=False).port == 2375


def test_round_trip_and_ipv6_brackets() -> None:
    assert str(parse_host("tcp://[::1]:4000")) == "tcp://[::1]:4000"
    assert str(parse_host("ssh://bob@h:2200")) == "ssh://bob@h:2200"


@pytest.mark.parametrize("text,why", [
    ("127.0.0.1:2376", "no scheme"),
    ("http://127.0.0.1:2376", "unsupported scheme"),
    ("unix://relative.sock", "must be absolute"),
    ("tcp://:2376", "no host name"),
    ("tcp://127.0.0.1:99999", "bad port"),
    ("tcp://127.0.0.1:2376/path", "path"),
    ("tcp://user@127.0.0.1:2376", "credentials"),
    ("ssh://user:secret@host", "credentials"),
])
def test_bad_hosts_are_refused_by_name(text: str, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        parse_host(text)


@pytest.mark.parametrize("name,loopback", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.0.2.1", False), ("example.org", False),
])
def test_is_loopback(name: str, loopback: bool) -> None:
    assert is_loopback(name) is loopback
