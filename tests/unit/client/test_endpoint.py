"""Issue 14: which daemon a command reaches, in the docker CLI's order, and what is refused."""
from __future__ import annotations

import json
import os
from typing import Dict

import pytest

from rootless.client.dialers import SshDialer, TcpDialer
from rootless.client.endpoint import HostOptions, resolve
from rootless.config.contexts import ContextStore
from rootless.errors import InvalidArgument, PermissionDenied

LOCAL = "/run/user/1000/rootless.sock"


@pytest.fixture()
def env(tmp_path) -> Dict[str, str]:
    return {"HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "docker")}


def test_default_is_the_local_daemon(env: Dict[str, str]) -> None:
    endpoint = resolve(HostOptions(), env, LOCAL)
    assert endpoint.target == LOCAL and endpoint.local


def test_docker_host_naming_our_socket_still_starts_it_on_demand(env: Dict[str, str]) -> None:
    endpoint = resolve(HostOptions(), {**env, "DOCKER_HOST": f"unix://{LOCAL}"}, LOCAL)
    assert endpoint.local and endpoint.target == LOCAL


def test_another_unix_socket_is_used_as_is(env: Dict[str, str]) -> None:
    endpoint = resolve(HostOptions(hosts=("unix:///tmp/other.sock",)), env, LOCAL)
    assert endpoint.target == "/tmp/other.sock" and not endpoint.local and endpoint.explicit


def test_ssh_host(env: Dict[str, str]) -> None:
    endpoint = resolve(HostOptions(), {**env, "DOCKER_HOST": "ssh://alice@box:2222"}, LOCAL)
    assert isinstance(endpoint.target, SshDialer)
    assert endpoint.target.argv() == ["ssh", "-T", "-o", "ConnectTimeout=30", "-l", "alice", "-p", "2222", "--",
                                      "box", "rootless", "system", "dial-stdio"]


def test_plain_tcp_is_refused_without_the_flag(env: Dict[str, str]) -> None:
    with pytest.raises(PermissionDenied, match="plain TCP"):
        resolve(HostOptions(hosts=("tcp://127.0.0.1:2375",)), env, LOCAL)


def test_plain_tcp_with_the_flag_only_to_loopback(env: Dict[str, str]) -> None:
    ok = resolve(HostOptions(hosts=("tcp://127.0.0.1:2375",), insecure_tcp=True), env, LOCAL)
    assert isinstance(ok.target, TcpDialer) and ok.target.context is None
    with pytest.raises(PermissionDenied, match="loopback"):
        resolve(HostOptions(hosts=("tcp://192.0.2.1:2375",), insecure_tcp=True), env, LOCAL)


def test_tls_without_verify_is_refused(env: Dict[str, str]) -> None:
    with pytest.raises(PermissionDenied, match="--tlsverify"):
        resolve(HostOptions(hosts=("tcp://h:2376",), tls=True), env, LOCAL)


def test_tlsverify_reads_docker_cert_path(env: Dict[str, str], tmp_path) -> None:
    """The files come from DOCKER_CERT_PATH: a missing CA there is named in the error."""
    certs = tmp_path / "certs"
    with pytest.raises(InvalidArgument, match=str(certs / "ca.pem")):
        resolve(HostOptions(), {**env, "DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1",
                                "DOCKER_CERT_PATH": str(certs)}, LOCAL)


def test_host_and_context_conflict(env: Dict[str, str]) -> None:
    with pytest.raises(InvalidArgument, match="either specify --host or --context"):
        resolve(HostOptions(hosts=("ssh://h",), context="x"), env, LOCAL)


def _store_with(env: Dict[str, str], name: str, host: str) -> ContextStore:
    store = ContextStore(env)
    store.create(name, host)
    return store


def test_context_order_flag_docker_host_env_current(env: Dict[str, str]) -> None:
    store = _store_with(env, "ca", "ssh://a-host")
    store.create("cb", "ssh://b-host")
    store.use("ca")
    label = lambda options, extra: resolve(options, {**env, **extra}, LOCAL).label  # noqa: E731
    assert label(HostOptions(), {}) == "ssh://a-host:22"  # currentContext
    assert label(HostOptions(), {"DOCKER_CONTEXT": "cb"}) == "ssh://b-host:22"  # DOCKER_CONTEXT over config
    assert label(HostOptions(), {"DOCKER_CONTEXT": "cb", "DOCKER_HOST": "ssh://c"}) == "ssh://c:22"  # DOCKER_HOST
    assert label(HostOptions(context="cb"), {"DOCKER_HOST": "ssh://c"}) == "ssh://b-host:22"  # --context wins
    assert label(HostOptions(hosts=("ssh://d",)), {"DOCKER_CONTEXT": "cb"}) == "ssh://d:22"  # -H wins


def test_context_with_skip_tls_verify_is_refused(env: Dict[str, str], tmp_path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    ContextStore(env).create("lax", "tcp://h:2376", tls={"ca": str(tmp_path / "ca.pem")}, skip_tls_verify=True)
    with pytest.raises(PermissionDenied, match="SkipTLSVerify"):
        resolve(HostOptions(context="lax"), env, LOCAL)


def test_tcp_context_without_tls_files_is_plain_tcp_and_refused(env: Dict[str, str]) -> None:
    _store_with(env, "plain", "tcp://192.0.2.1:2375")
    with pytest.raises(PermissionDenied, match="plain TCP"):
        resolve(HostOptions(context="plain"), env, LOCAL)
    assert json.loads(open(os.path.join(ContextStore(env).meta_dir("plain"), "meta.json")).read())["Name"] == "plain"


def test_rootless_host_wins_over_docker_host(env: Dict[str, str]) -> None:
    endpoint = resolve(HostOptions(), {**env, "DOCKER_HOST": "unix:///var/run/docker.sock",
                                       "ROOTLESS_HOST": "unix:///tmp/ours.sock"}, LOCAL)
    assert endpoint.target == "/tmp/ours.sock"
