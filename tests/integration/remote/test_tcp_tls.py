"""Issue 14: the API over TCP with mutual TLS; every way in without a good client certificate refused."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from typing import Callable

import docker
import pytest

from tests.integration.conftest import VENV_PYTHON, Engine, TestUser, _free_port
from tests.integration.remote.conftest import (
    ClientCerts, TlsEngine, chown_tree, generate_certs, make_expired_client, wait_for_port,
)

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _requests_uses_our_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a session's verify= (requests#3829),
    which would make docker-py check our daemon against the system CAs."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def _log_when(engine: Engine, done: Callable[[str], bool], timeout: float = 10.0) -> str:
    """The daemon's log once done(log) holds: it logs a refusal after the client has seen it."""
    deadline = time.monotonic() + timeout
    while True:
        log = engine.log()
        if done(log) or time.monotonic() > deadline:
            return log
        time.sleep(0.1)


def _volume_exists(engine: Engine, name: str) -> bool:
    return name in engine.cli("volume", "ls", "-q").stdout.split()


def test_docker_cli_with_tlsverify_flags(tls_engine: TlsEngine) -> None:
    name = f"tls-cli-{uuid.uuid4().hex[:8]}"
    eng = tls_engine.engine
    eng.docker(*tls_engine.client.docker_flags(), "-H", tls_engine.url, "volume", "create", name)
    assert _volume_exists(eng, name)  # created in the same daemon the UNIX socket serves
    out = eng.docker(*tls_engine.client.docker_flags(), "-H", tls_engine.url, "version",
                     "--format", "{{.Server.Os}}").stdout
    assert out.strip() == "linux"


def test_docker_cli_with_docker_environment(tls_engine: TlsEngine) -> None:
    out = tls_engine.engine.docker("info", "--format", "{{.OSType}}", env=tls_engine.tls_env()).stdout
    assert out.strip() == "linux"


def test_docker_py_tls_config(tls_engine: TlsEngine) -> None:
    certs = tls_engine.client
    tls = docker.tls.TLSConfig(client_cert=(certs.cert, certs.key), ca_cert=certs.ca, verify=True)
    client = docker.DockerClient(base_url=f"https://127.0.0.1:{tls_engine.port}", tls=tls, timeout=60)
    assert client.ping()
    name = f"tls-py-{uuid.uuid4().hex[:8]}"
    client.volumes.create(name)
    assert _volume_exists(tls_engine.engine, name)


def test_our_cli_with_flags_and_environment(tls_engine: TlsEngine) -> None:
    eng, certs = tls_engine.engine, tls_engine.client
    name = f"tls-ours-{uuid.uuid4().hex[:8]}"
    eng.cli("-H", tls_engine.url, "--tlsverify", "--tlscacert", certs.ca, "--tlscert", certs.cert,
            "--tlskey", certs.key, "volume", "create", name)
    assert _volume_exists(eng, name)
    listed = eng.cli("volume", "ls", "-q", env=tls_engine.tls_env()).stdout.split()
    assert name in listed


def _refused(tls_engine: TlsEngine, certs: ClientCerts, reason: str) -> None:
    """Each client is refused at the handshake: the daemon logs it and creates nothing."""
    eng = tls_engine.engine
    name = f"refused-{uuid.uuid4().hex[:8]}"
    before = eng.log().count("TLS handshake failed")
    result = eng.docker("volume", "create", name, check=False, env=tls_engine.tls_env(certs))
    assert result.returncode != 0, result.stdout
    ours = eng.cli("volume", "create", name + "-ours", check=False, env=tls_engine.tls_env(certs))
    assert ours.returncode != 0 and "TLS handshake failed" in ours.stderr, ours.stderr
    tls = docker.tls.TLSConfig(client_cert=(certs.cert, certs.key) if os.path.exists(certs.cert) else None,
                               ca_cert=tls_engine.client.ca, verify=True)
    with pytest.raises(docker.errors.DockerException, match="SSL"):
        client = docker.DockerClient(base_url=f"https://127.0.0.1:{tls_engine.port}", tls=tls, timeout=30)
        client.volumes.create(name + "-py")
    assert not any(_volume_exists(eng, n) for n in (name, name + "-ours", name + "-py"))
    log = _log_when(eng, lambda text: text.count("TLS handshake failed") >= before + 3)
    assert log.count("TLS handshake failed") >= before + 3, log[-3000:]
    assert reason in log, log[-3000:]


def test_client_certificate_of_another_ca_is_refused(tls_engine: TlsEngine, user: TestUser) -> None:
    other = tempfile.mkdtemp(prefix="rootless-otherca-", dir="/tmp")
    try:
        os.chmod(other, 0o755)
        chown_tree(other, user)
        generate_certs(tls_engine.engine, os.path.join(other, "server"), os.path.join(other, "client"))
        wrong = os.path.join(other, "wrong")
        os.makedirs(wrong)
        shutil.copy(tls_engine.client.ca, wrong)  # trusts the daemon, but its own cert is from another CA
        for name in ("cert.pem", "key.pem"):
            shutil.copy(os.path.join(other, "client", name), wrong)
        chown_tree(wrong, user)
        _refused(tls_engine, ClientCerts(wrong), "unable to get local issuer certificate")
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_expired_client_certificate_is_refused(tls_engine: TlsEngine, user: TestUser) -> None:
    scratch = tempfile.mkdtemp(prefix="rootless-expired-", dir="/tmp")
    try:
        os.chmod(scratch, 0o755)
        certs = make_expired_client(tls_engine.server_dir, os.path.join(scratch, "client"), user)
        _refused(tls_engine, certs, "certificate has expired")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_no_client_certificate_is_refused(tls_engine: TlsEngine, user: TestUser) -> None:
    scratch = tempfile.mkdtemp(prefix="rootless-nocert-", dir="/tmp")
    try:
        os.chmod(scratch, 0o755)
        only_ca = os.path.join(scratch, "client")
        os.makedirs(only_ca)
        shutil.copy(tls_engine.client.ca, only_ca)
        chown_tree(only_ca, user)
        _refused(tls_engine, ClientCerts(only_ca), "PEER_DID_NOT_RETURN_A_CERTIFICATE")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_plain_http_on_the_tls_port_gets_no_api(tls_engine: TlsEngine) -> None:
    """Without TLS at all nothing is served: not even /_ping."""
    result = tls_engine.engine.docker("-H", tls_engine.url, "version", check=False,
                                      env={"DOCKER_TLS_VERIFY": ""})
    assert result.returncode != 0
    assert "Server:" not in result.stdout or "Engine" not in result.stdout


# -- refusals at start ------------------------------------------------------------------------------

def _service(engine: Engine, *args: str) -> "subprocess.CompletedProcess[str]":
    return engine.cli("system", "service", *args, check=False, timeout=60)


def test_plain_tcp_needs_the_insecure_flag(fresh_engine: Engine) -> None:
    result = _service(fresh_engine, "-H", f"tcp://127.0.0.1:{_free_port()}")
    assert result.returncode != 0
    assert "plain TCP has no authentication" in result.stderr


def test_plain_tcp_off_loopback_is_refused_even_with_the_flag(fresh_engine: Engine) -> None:
    result = _service(fresh_engine, "-H", f"tcp://0.0.0.0:{_free_port()}", "--insecure-tcp")
    assert result.returncode != 0
    assert "plain TCP off loopback" in result.stderr


def test_hosts_in_config_refused_the_same_way(fresh_engine: Engine) -> None:
    path = os.path.join(fresh_engine.config_home, "rootless")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.toml"), "w") as f:
        f.write(f'hosts = ["tcp://0.0.0.0:{_free_port()}"]\ninsecure_tcp = true\n')
    chown_tree(path, fresh_engine.user)
    result = fresh_engine.cli("info", check=False, timeout=60)
    assert result.returncode != 0
    assert "plain TCP off loopback" in result.stderr + fresh_engine.log()


def test_server_key_readable_by_others_is_refused(fresh_engine: Engine) -> None:
    tls_dir = os.path.join(fresh_engine.config_home, "rootless", "tls")
    generate_certs(fresh_engine, tls_dir, os.path.join(fresh_engine.config_home, "docker"))
    os.chmod(os.path.join(tls_dir, "server-key.pem"), 0o644)
    result = _service(fresh_engine, "-H", f"tcp://127.0.0.1:{_free_port()}", "--tlsverify")
    assert result.returncode != 0
    assert "lets other users read it" in result.stderr


def test_insecure_loopback_listener_warns_and_serves(fresh_engine: Engine) -> None:
    port = _free_port()
    daemon = fresh_engine.user.popen(
        [VENV_PYTHON, "-m", "rootless.cli", "system", "service",
         "-H", f"tcp://127.0.0.1:{port}", "--insecure-tcp"],
        env=fresh_engine.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port)
        out = fresh_engine.docker("-H", f"tcp://127.0.0.1:{port}", "version", "--format", "{{.Server.Os}}").stdout
        assert out.strip() == "linux"
        refused = fresh_engine.cli("-H", f"tcp://127.0.0.1:{port}", "version", check=False)
        assert refused.returncode != 0 and "plain TCP" in refused.stderr
        fresh_engine.cli("-H", f"tcp://127.0.0.1:{port}", "--insecure-tcp", "volume", "ls")
    finally:
        daemon.terminate()
        _, err = daemon.communicate(timeout=30)
    assert b"NO authentication and NO encryption" in err


def test_attached_run_with_stdin_over_tls(tls_engine: TlsEngine, images) -> None:  # type: ignore[no-untyped-def]
    """Hijacked streams (attach, stdin half-close, exit code) over TLS, with both CLIs."""
    eng, env = tls_engine.engine, tls_engine.tls_env()
    eng.docker("pull", "-q", images.busybox, env=env, timeout=300)
    script = "cat; echo err >&2; exit 3"
    for run in (eng.docker, eng.cli):
        result = run("run", "--rm", "-i", images.busybox, "sh", "-c", script, input="in\n", check=False, env=env)
        assert (result.returncode, result.stdout, result.stderr) == (3, "in\n", "err\n"), run


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # TLSVersion.TLSv1_1: the point of the test
def test_tls_below_1_2_is_refused(tls_engine: TlsEngine) -> None:
    """A client limited to TLS 1.1 (and allowed the old ciphers) finds no protocol in common."""
    import socket
    import ssl

    certs = tls_engine.client
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # else the client itself would refuse to offer 1.1
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.load_verify_locations(certs.ca)
    context.load_cert_chain(certs.cert, certs.key)
    before = tls_engine.engine.log().count("TLS handshake failed")
    with socket.create_connection(("127.0.0.1", tls_engine.port), timeout=30) as raw:
        with pytest.raises(ssl.SSLError):
            context.wrap_socket(raw, server_hostname="127.0.0.1")
    log = _log_when(tls_engine.engine, lambda text: text.count("TLS handshake failed") > before)
    assert "UNSUPPORTED_PROTOCOL" in log.split("TLS handshake failed")[-1], log[-2000:]


def test_stdin_and_output_at_once_over_tls(tls_engine: TlsEngine, images) -> None:  # type: ignore[no-untyped-def]
    """Reading and writing one TLS connection from two threads (the attach pumps): 4 MiB both ways intact."""
    eng, env = tls_engine.engine, tls_engine.tls_env()
    eng.docker("pull", "-q", images.busybox, env=env, timeout=300)
    payload = "".join(f"{i:07d} rootless remote\n" for i in range(4 * 1024 * 1024 // 24))
    result = eng.cli("run", "--rm", "-i", images.busybox, "cat", input=payload, env=env, timeout=180)
    assert result.stdout == payload
