"""Issue 14: which listeners the daemon opens, and the key-file rule."""
from __future__ import annotations

import os

import pytest

from rootless.config import Settings
from rootless.config.hosts import Host
from rootless.daemon.listeners import RemoteOptions, check_key_file, plan_listeners, remote_options
from rootless.errors import InvalidArgument, PermissionDenied

SOCK = "/run/user/1000/rootless.sock"


def test_tls_listeners_anywhere() -> None:
    planned = plan_listeners(RemoteOptions(hosts=("tcp://0.0.0.0:2376", "tcp://[::1]"), tls_verify=True), SOCK)
    assert planned == [Host("tcp", host="0.0.0.0", port=2376), Host("tcp", host="::1", port=2376)]


def test_own_unix_socket_is_accepted_and_not_opened_twice() -> None:
    assert plan_listeners(RemoteOptions(hosts=(f"unix://{SOCK}",)), SOCK) == []


@pytest.mark.parametrize("options,why", [
    (RemoteOptions(hosts=("tcp://127.0.0.1:2375",)), "plain TCP has no authentication"),
    (RemoteOptions(hosts=("tcp://0.0.0.0:2375",), insecure_tcp=True), "off loopback"),
    (RemoteOptions(hosts=("tcp://example.org:2375",), insecure_tcp=True), "off loopback"),
    (RemoteOptions(hosts=("unix:///tmp/other.sock",)), "only the daemon's own UNIX socket"),
    (RemoteOptions(hosts=("ssh://h",), tls_verify=True), "ssh:// is a client address"),
])
def test_refused_listeners(options: RemoteOptions, why: str) -> None:
    with pytest.raises((PermissionDenied, InvalidArgument), match=why):
        plan_listeners(options, SOCK)


def test_plain_tcp_on_loopback_with_the_flag() -> None:
    options = RemoteOptions(hosts=("tcp://127.0.0.1:2375",), insecure_tcp=True)
    assert plan_listeners(options, SOCK) == [Host("tcp", host="127.0.0.1", port=2375)]


def test_flags_and_config_hosts_conflict_as_in_dockerd() -> None:
    with pytest.raises(InvalidArgument, match="both"):
        remote_options(Settings(hosts=["tcp://0.0.0.0:2376"]), hosts=["tcp://0.0.0.0:2377"])


def test_flags_over_config() -> None:
    options = remote_options(Settings(hosts=["tcp://0.0.0.0:2376"], tls_verify=False, tls_cacert="/c.pem"),
                             tls_verify=True, key="/k.pem")
    assert options.hosts == ("tcp://0.0.0.0:2376",) and options.tls_verify
    assert (options.cacert, options.key) == ("/c.pem", "/k.pem")


@pytest.mark.parametrize("mode,ok", [(0o600, True), (0o400, True), (0o640, False), (0o644, False), (0o604, False)])
def test_key_file_mode(tmp_path, mode: int, ok: bool) -> None:
    key = tmp_path / "server-key.pem"
    key.write_text("key")
    os.chmod(key, mode)
    if ok:
        check_key_file(str(key))
    else:
        with pytest.raises(PermissionDenied, match="lets other users read it"):
            check_key_file(str(key))
