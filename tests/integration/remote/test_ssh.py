"""Issue 14: the API over ssh://, through a real sshd on loopback.

The test starts its own sshd (root, 127.0.0.1, a throw-away host key, the
test user's generated key in an AuthorizedKeysFile under a test dir). The
key's environment= options give the remote shell what a real account has in
its profile: PATH with `rootless` and `docker`, the engine's dirs, and a
DOCKER_CONFIG whose current context points `docker system dial-stdio` at our
socket. The client side finds `ssh` first on PATH as a wrapper adding
`-F <test config>` (identity, known_hosts with the host key, BatchMode), so
the user's own ~/.ssh is never read or changed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from typing import Dict, Iterator

import docker
import pytest

from tests.integration.conftest import BASE_PATH, Engine, TestUser, _free_port, kill_engine_processes, make_engine
from tests.integration.remote.conftest import chown_tree, wait_for_port

pytestmark = pytest.mark.integration
SSHD = "/usr/sbin/sshd"


@dataclass
class SshRemote:
    engine: Engine
    port: int
    dir: str
    sshd: "subprocess.Popen[bytes]"

    @property
    def url(self) -> str:
        return f"ssh://{self.engine.user.name}@127.0.0.1:{self.port}"

    @property
    def path(self) -> str:
        return f"{self.dir}/bin:{BASE_PATH}"

    def client_env(self) -> Dict[str, str]:
        """The local side: our ssh wrapper first on PATH, and no DOCKER_HOST of the local engine."""
        return {"PATH": self.path, "DOCKER_HOST": "", "DOCKER_CONFIG": f"{self.dir}/local-docker"}


def _keygen(path: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rootless-test", "-f", path], check=True)
    with open(path + ".pub") as f:
        return f.read().strip()


def _write(path: str, text: str, mode: int = 0o644) -> None:
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def _remote_environment(engine: Engine, remote_docker: str) -> str:
    env = {"PATH": BASE_PATH, "PYTHONPATH": engine.user.base_env["PYTHONPATH"], "DOCKER_CONFIG": remote_docker,
           **{k: v for k, v in engine.env.items() if k.startswith(("ROOTLESS_", "XDG_"))}}
    return ",".join(f'environment="{k}={v}"' for k, v in env.items())


def _sshd_config(base: str, port: int, user: str) -> str:
    return "\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {base}/host_key", f"PidFile {base}/sshd.pid",
        f"AuthorizedKeysFile {base}/authorized_keys", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
        # PAM: the test account has a locked password ("!"), which sshd without PAM refuses outright.
        "UsePAM yes", "StrictModes no", "PermitUserEnvironment yes", f"AllowUsers {user}",
        "X11Forwarding no", "AllowTcpForwarding no", "LogLevel VERBOSE", "",
    ])


def _client_config(base: str, port: int) -> None:
    _write(f"{base}/ssh_config", "\n".join([
        "Host *", f"  IdentityFile {base}/client/id", "  IdentitiesOnly yes",
        f"  UserKnownHostsFile {base}/known_hosts", "  StrictHostKeyChecking yes", "  BatchMode yes",
        "  LogLevel ERROR", "",
    ]))
    os.makedirs(f"{base}/bin")
    _write(f"{base}/bin/ssh", f'#!/bin/sh\nexec /usr/bin/ssh -F {base}/ssh_config "$@"\n', 0o755)


def _start_sshd(base: str, port: int, user: str) -> "subprocess.Popen[bytes]":
    if not os.path.exists(SSHD):
        pytest.fail("openssh-server is missing: contrib/setup-host.sh --tests installs it")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation dir
    _write(f"{base}/sshd_config", _sshd_config(base, port, user))
    log = open(f"{base}/sshd.log", "wb")
    sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", f"{base}/sshd_config"], stdout=log, stderr=log)
    wait_for_port(port)
    return sshd


@pytest.fixture(scope="module")
def remote(user: TestUser) -> Iterator[SshRemote]:
    base = tempfile.mkdtemp(prefix="rootless-ssh-", dir="/tmp")
    os.chmod(base, 0o755)
    eng = make_engine(user, os.path.join(base, "engine"))
    port = _free_port()
    host_pub = _keygen(f"{base}/host_key")
    _write(f"{base}/known_hosts", f"[127.0.0.1]:{port} {host_pub}\n")
    os.makedirs(f"{base}/client")
    user_pub = _keygen(f"{base}/client/id")
    remote_docker = f"{base}/remote-docker"
    _write(f"{base}/authorized_keys", f"{_remote_environment(eng, remote_docker)} {user_pub}\n")
    _client_config(base, port)
    os.makedirs(f"{base}/local-docker")
    os.makedirs(remote_docker)
    chown_tree(f"{base}/client", user)
    chown_tree(f"{base}/local-docker", user)
    chown_tree(remote_docker, user)
    sshd = _start_sshd(base, port, user.name)
    try:
        yield SshRemote(eng, port, base, sshd)
    finally:
        sshd.terminate()
        sshd.wait(10)
        eng.stop()
        kill_engine_processes(eng.run_dir)
        shutil.rmtree(base, ignore_errors=True)


def _sshd_log(remote: SshRemote) -> str:
    with open(f"{remote.dir}/sshd.log") as f:
        return f.read()[-3000:]


def test_our_cli_over_ssh_starts_the_remote_daemon(remote: SshRemote) -> None:
    eng = remote.engine
    assert not os.path.exists(eng.socket)  # nothing runs yet: dial-stdio starts it on demand
    result = eng.cli("-H", remote.url, "ps", "-a", check=False, env=remote.client_env(), timeout=120)
    assert result.returncode == 0, result.stderr + _sshd_log(remote)
    assert result.stdout.startswith("CONTAINER ID")
    name = f"ssh-ours-{uuid.uuid4().hex[:8]}"
    eng.cli("volume", "create", name, env=remote.client_env() | {"DOCKER_HOST": remote.url})
    assert name in eng.cli("volume", "ls", "-q").stdout.split()  # the same daemon, seen locally


def test_docker_cli_over_ssh(remote: SshRemote) -> None:
    eng = remote.engine
    eng.cli("info")  # the docker CLI's dial-stdio does not start daemons: ours must run
    # On the remote, docker's current context points at our socket (DOCKER_CONFIG of the remote shell).
    remote_env = {"DOCKER_CONFIG": f"{remote.dir}/remote-docker", "DOCKER_HOST": ""}
    eng.docker("context", "create", "rootless", "--docker", f"host=unix://{eng.socket}", env=remote_env)
    eng.docker("context", "use", "rootless", env=remote_env)
    name = f"ssh-docker-{uuid.uuid4().hex[:8]}"
    result = eng.docker("-H", remote.url, "volume", "create", name, check=False, env=remote.client_env())
    assert result.returncode == 0, result.stderr + _sshd_log(remote)
    assert name in eng.cli("volume", "ls", "-q").stdout.split()


def test_docker_py_over_ssh_client(remote: SshRemote, monkeypatch: pytest.MonkeyPatch) -> None:
    remote.engine.cli("info")
    monkeypatch.setenv("PATH", remote.path)  # docker-py runs `ssh` from PATH: our wrapper
    client = docker.DockerClient(base_url=remote.url, use_ssh_client=True, timeout=60)
    try:
        assert client.ping()
        name = f"ssh-py-{uuid.uuid4().hex[:8]}"
        client.volumes.create(name)
        assert name in remote.engine.cli("volume", "ls", "-q").stdout.split()
    finally:
        client.close()


def test_unknown_host_key_is_refused(remote: SshRemote) -> None:
    """ssh's own host key check stands: a daemon behind an unknown key gets no request."""
    env = remote.client_env()
    with open(f"{remote.dir}/known_hosts") as f:
        saved = f.read()
    _write(f"{remote.dir}/known_hosts", "")
    try:
        result = remote.engine.cli("-H", remote.url, "ps", check=False, env=env, timeout=60)
    finally:
        _write(f"{remote.dir}/known_hosts", saved)
    assert result.returncode != 0
    assert "Host key verification failed" in result.stderr


def test_attached_run_with_stdin_over_ssh(remote: SshRemote, images) -> None:  # type: ignore[no-untyped-def]
    """Hijacked streams through ssh: stdin's EOF reaches the container, output and exit code come back."""
    env = {**remote.client_env(), "DOCKER_HOST": remote.url}
    remote.engine.cli("pull", "-q", images.busybox, env=env, timeout=300)
    result = remote.engine.cli("run", "--rm", "-i", images.busybox, "sh", "-c", "cat; echo err >&2; exit 3",
                               input="in\n", check=False, env=env)
    assert (result.returncode, result.stdout, result.stderr) == (3, "in\n", "err\n")


def test_ssh_context_made_by_ours_drives_both_clis(remote: SshRemote) -> None:
    eng = remote.engine
    eng.cli("info")
    remote_env = {"DOCKER_CONFIG": f"{remote.dir}/remote-docker", "DOCKER_HOST": ""}
    if "rootless" not in eng.docker("context", "ls", "-q", env=remote_env).stdout.split():
        eng.cli("context", "create", "rootless", "--docker", f"host=unix://{eng.socket}", env=remote_env)
    eng.cli("context", "use", "rootless", env=remote_env)  # what docker's dial-stdio on the remote follows
    env = remote.client_env()
    name = f"sshctx-{uuid.uuid4().hex[:6]}"
    eng.cli("context", "create", name, "--docker", f"host={remote.url}", env=env)
    for run, volume in ((eng.cli, f"{name}-ours"), (eng.docker, f"{name}-docker")):
        result = run("--context", name, "volume", "create", volume, check=False, env=env)
        assert result.returncode == 0, result.stderr + _sshd_log(remote)
    listed = eng.cli("volume", "ls", "-q").stdout.split()
    assert f"{name}-ours" in listed and f"{name}-docker" in listed
