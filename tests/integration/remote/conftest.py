"""Fixtures for remote access (issue 14): TLS material, a daemon with a tcp:// listener."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, Iterator

import pytest

from tests.integration.conftest import Engine, TestUser, _free_port, kill_engine_processes, make_engine

EXPIRED_CA_CONFIG = """[ca]
default_ca = ca_default
[ca_default]
database = {dir}/index.txt
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha256
policy = policy_any
email_in_dn = no
[policy_any]
commonName = supplied
[client_ext]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
"""


@dataclass
class ClientCerts:
    """A client's TLS files in docker's layout (ca.pem, cert.pem, key.pem) in one directory."""

    dir: str

    @property
    def ca(self) -> str:
        return os.path.join(self.dir, "ca.pem")

    @property
    def cert(self) -> str:
        return os.path.join(self.dir, "cert.pem")

    @property
    def key(self) -> str:
        return os.path.join(self.dir, "key.pem")

    def docker_flags(self) -> "list[str]":
        return ["--tlsverify", "--tlscacert", self.ca, "--tlscert", self.cert, "--tlskey", self.key]


@dataclass
class TlsEngine:
    engine: Engine
    port: int
    client: ClientCerts  # signed by the daemon's CA
    server_dir: str

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def tls_env(self, certs: "ClientCerts | None" = None) -> Dict[str, str]:
        """docker's environment for this listener: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH."""
        return {"DOCKER_HOST": self.url, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": (certs or self.client).dir}


def chown_tree(path: str, user: TestUser) -> None:
    for dirpath, _, filenames in os.walk(path):
        os.chown(dirpath, user.uid, user.gid)
        for name in filenames:
            os.chown(os.path.join(dirpath, name), user.uid, user.gid)


def generate_certs(engine: Engine, server_dir: str, client_dir: str) -> None:
    """`rootless tls generate` as the user, as a person would run it."""
    engine.cli("tls", "generate", "--name", "localhost", "--ip", "127.0.0.1",
               "--server-dir", server_dir, "--client-dir", client_dir)


def make_expired_client(server_dir: str, out_dir: str, user: TestUser) -> ClientCerts:
    """A client certificate signed by the right CA, valid only in 2020 (openssl ca takes past dates)."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "ca.cnf"), "w") as f:
        f.write(EXPIRED_CA_CONFIG.format(dir=out_dir))
    open(os.path.join(out_dir, "index.txt"), "w").close()
    with open(os.path.join(out_dir, "serial"), "w") as f:
        f.write("1000\n")
    run = lambda *argv: subprocess.run(list(argv), check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{out_dir}/key.pem", "-out", f"{out_dir}/req.csr", "-subj", "/CN=expired")
    run("openssl", "ca", "-batch", "-config", f"{out_dir}/ca.cnf", "-in", f"{out_dir}/req.csr",
        "-cert", f"{server_dir}/ca.pem", "-keyfile", f"{server_dir}/ca-key.pem", "-startdate", "20200101000000Z",
        "-enddate", "20200102000000Z", "-extensions", "client_ext", "-notext", "-out", f"{out_dir}/cert.pem")
    shutil.copy(f"{server_dir}/ca.pem", f"{out_dir}/ca.pem")
    os.chmod(f"{out_dir}/key.pem", 0o600)
    chown_tree(out_dir, user)
    return ClientCerts(out_dir)


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture(scope="module")
def tls_engine(user: TestUser) -> Iterator[TlsEngine]:
    """A daemon whose config.toml asks for a mutual-TLS listener on 127.0.0.1 (started on demand)."""
    base = tempfile.mkdtemp(prefix="rootless-remote-", dir="/tmp")
    eng = make_engine(user, base)
    server_dir = os.path.join(eng.config_home, "rootless", "tls")
    client_dir = os.path.join(eng.config_home, "docker")
    generate_certs(eng, server_dir, client_dir)
    port = _free_port()
    with open(os.path.join(eng.config_home, "rootless", "config.toml"), "w") as f:
        f.write(f'hosts = ["tcp://127.0.0.1:{port}"]\n[tls]\nverify = true\n')
    os.chown(os.path.join(eng.config_home, "rootless", "config.toml"), user.uid, user.gid)
    eng.cli("info")
    wait_for_port(port)
    yield TlsEngine(eng, port, ClientCerts(client_dir), server_dir)
    eng.stop()
    kill_engine_processes(eng.run_dir)
    shutil.rmtree(base, ignore_errors=True)
