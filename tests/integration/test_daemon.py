"""The spine: daemon in a user namespace, socket, lock, docker CLI and docker-py, doctor."""
from __future__ import annotations

import json
import os
import pwd
import signal
import socket
import stat
import subprocess
import time

import pytest

from tests.integration.conftest import VENV_PYTHON, Engine, TestUser, kill_engine_processes, make_engine


def _raw_request(path: str, request: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.sendall(request)
        data = b""
        s.settimeout(5)
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")]
        while length and len(body) < length[0] and not request.startswith(b"HEAD"):
            body += s.recv(65536)
        return head + b"\r\n\r\n" + body


def test_socket_is_private_and_owned_by_the_user(engine: Engine, user: TestUser) -> None:
    info = os.stat(engine.socket)
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == user.uid


def test_daemon_runs_in_a_user_namespace_with_the_subuid_range(engine: Engine, user: TestUser) -> None:
    pid = engine.daemon_pid()
    with open(f"/proc/{pid}/uid_map") as f:
        uid_map = [line.split() for line in f.read().splitlines()]
    with open("/etc/subuid") as f:
        start, count = next(l.strip().split(":")[1:] for l in f if l.startswith(f"{user.name}:"))
    assert uid_map == [["0", str(user.uid), "1"], ["1", start, count]]
    assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
    # The daemon process itself belongs to the user on the host.
    assert os.stat(f"/proc/{pid}").st_uid == user.uid


def test_info_reports_the_setup(engine: Engine, user: TestUser) -> None:
    out = engine.cli("info").stdout
    assert f"Storage root:     {engine.root}" in out
    assert f"0->{user.uid} (1)" in out
    assert "Storage driver:   overlay" in out or "Storage driver:   fuse-overlayfs" in out
    assert "Cgroup mode:      " in out and "OCI runtime:      crun (crun version" in out
    data = json.loads(engine.cli("info", "--format", "json").stdout)
    assert data["Rootless"]["CgroupMode"] in ("v1", "v2", "hybrid", "none")
    assert data["DockerRootDir"] == engine.root


def test_second_daemon_on_the_same_store_refuses(engine: Engine, user: TestUser) -> None:
    result = user.run([VENV_PYTHON, "-m", "rootless.daemon"], env=engine.env, check=False, timeout=30)
    assert result.returncode == 75  # STORE_BUSY_EXIT: a CLI that started it waits for the holder
    assert f"can't lock store: {engine.root}: resource busy" in result.stderr
    assert "another rootlessd" in result.stderr


def test_docker_cli_version_and_info(engine: Engine) -> None:
    out = engine.docker("version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}").stdout
    assert out.strip() == "1.44 linux"
    info = json.loads(engine.docker("info", "--format", "{{json .}}").stdout)
    assert info["DockerRootDir"] == engine.root
    assert info["OSType"] == "linux"


def test_docker_py_version(engine: Engine) -> None:
    client = engine.client()
    assert client.version()["ApiVersion"] == "1.44"
    assert client.ping() is True
    assert client.info()["Driver"] in ("overlay", "fuse-overlayfs", "vfs")


def test_api_errors_have_docker_shape(engine: Engine) -> None:
    response = _raw_request(engine.socket, b"GET /v1.99/info HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 400")
    assert b"\r\nContent-Type: application/json\r\n" in response
    assert b'"message": "client version 1.99 is too new. Maximum supported API version is 1.44"' in response
    response = _raw_request(engine.socket, b"GET /v1.44/nothing/here HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 404") and b"page not found" in response


def test_ping_head_and_get(engine: Engine) -> None:
    head = _raw_request(engine.socket, b"HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Api-Version: 1.44" in head and b"Ostype: linux" in head
    get = _raw_request(engine.socket, b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
    assert get.endswith(b"\r\n\r\nOK")


def test_stop_and_restart_rejoins_the_same_namespaces(fresh_engine: Engine) -> None:
    fresh_engine.cli("info")
    with open(os.path.join(fresh_engine.run_dir, "pause.pid")) as f:
        pause = json.load(f)["pid"]
    first = fresh_engine.daemon_pid()
    out = fresh_engine.cli("system", "stop").stdout
    assert f"rootlessd (pid {first}) stopped" in out
    assert not os.path.exists(fresh_engine.socket)
    assert not os.path.exists(os.path.join(fresh_engine.run_dir, "rootlessd.pid"))
    fresh_engine.cli("info")
    second = fresh_engine.daemon_pid()
    assert second != first
    assert os.readlink(f"/proc/{second}/ns/user") == os.readlink(f"/proc/{pause}/ns/user")
    assert os.readlink(f"/proc/{second}/ns/mnt") == os.readlink(f"/proc/{pause}/ns/mnt")


def test_daemon_killed_hard_is_replaced_on_demand(fresh_engine: Engine) -> None:
    fresh_engine.cli("info")
    first = fresh_engine.daemon_pid()
    os.kill(first, signal.SIGKILL)
    time.sleep(0.2)
    fresh_engine.cli("info")  # stale socket and pidfile must not get in the way
    assert fresh_engine.daemon_pid() != first


def test_system_service_runs_in_foreground_and_stops_on_sigterm(fresh_engine: Engine, user: TestUser) -> None:
    proc = user.popen([VENV_PYTHON, "-m", "rootless.cli", "system", "service"], env=fresh_engine.env,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not os.path.exists(fresh_engine.socket):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert fresh_engine.docker("version", "--format", "{{.Server.APIVersion}}").stdout.strip() == "1.44"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert not os.path.exists(fresh_engine.socket)


@pytest.fixture(scope="module")
def user_without_range() -> TestUser:
    name = "rootless-nosub"
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", name], check=True)
        entry = pwd.getpwnam(name)
    for path in ("/etc/subuid", "/etc/subgid"):
        with open(path) as f:
            lines = [l for l in f if not l.startswith(f"{name}:")]
        with open(path, "w") as f:
            f.writelines(lines)
    from tests.integration.conftest import REPO, _publish_source
    import tempfile
    src = _publish_source(tempfile.mkdtemp(prefix="rootless-nosub-"))
    return TestUser(name, entry.pw_uid, entry.pw_gid, entry.pw_dir, {"PYTHONPATH": src})


def test_doctor_names_the_fix_for_a_user_without_subuids(user_without_range: TestUser) -> None:
    result = user_without_range.run([VENV_PYTHON, "-m", "rootless.cli", "doctor"], check=False)
    assert result.returncode == 1
    assert "[FAIL] subuid range: no entry for rootless-nosub in /etc/subuid" in result.stdout
    assert "fix: sudo usermod --add-subuids" in result.stdout and "rootless-nosub" in result.stdout
    assert "[ok  ] user namespaces" in result.stdout


def test_doctor_passes_for_the_configured_user(engine: Engine) -> None:
    result = engine.cli("doctor", check=False)
    assert "[ok  ] subuid range" in result.stdout
    assert "[ok  ] /dev/net/tun: usable" in result.stdout
    assert "[ok  ] newuidmap" in result.stdout
    assert "[ok  ] nft: " in result.stdout  # the default bridge's namespace needs it (issue 10)


def test_single_uid_mode_without_a_range(user_without_range: TestUser) -> None:
    import tempfile
    base = tempfile.mkdtemp(prefix="rootless-single-", dir="/tmp")
    eng = make_engine(user_without_range, base)
    try:
        data = json.loads(eng.cli("info", "--format", "json").stdout)
        assert data["Rootless"]["SingleIdMode"] is True
        assert data["Rootless"]["IdMappings"]["UidMap"] == [[0, user_without_range.uid, 1]]
        assert any("single-uid mode" in w for w in data["Warnings"])
        with open(os.path.join(eng.run_dir, "rootlessd.log")) as f:
            log = f.read()
        assert "sudo usermod --add-subuids" in log
    finally:
        eng.stop()
        kill_engine_processes(eng.run_dir)


def test_socket_activation_as_systemd_does_it(fresh_engine: Engine, user: TestUser) -> None:
    """contrib/systemd/rootless.socket: systemd listens, then starts `rootless system service` with fd 3."""
    activate = "/usr/bin/systemd-socket-activate"
    if not os.path.exists(activate):
        pytest.skip("systemd-socket-activate is not installed")
    # Like systemd, systemd-socket-activate passes only the variables it is told to.
    passed = [f"-E{key}" for key in (*fresh_engine.env, "PYTHONPATH", "HOME", "PATH")]
    proc = user.popen([activate, "-l", fresh_engine.socket, *passed, VENV_PYTHON, "-m", "rootless.cli",
                       "system", "service"], env=fresh_engine.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(fresh_engine.socket):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        # The first connection starts the daemon, which adopts the listening socket.
        out = fresh_engine.docker("version", "--format", "{{.Server.APIVersion}}", timeout=60).stdout
        assert out.strip() == "1.44"
        daemon = fresh_engine.daemon_pid()
        assert os.readlink(f"/proc/{daemon}/ns/user") != os.readlink("/proc/self/ns/user")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def test_systemd_units_are_valid() -> None:
    analyze = "/usr/bin/systemd-analyze"
    if not os.path.exists(analyze):
        pytest.skip("systemd-analyze is not installed")
    from tests.integration.conftest import REPO
    units = [os.path.join(REPO, "contrib", "systemd", name) for name in ("rootless.service", "rootless.socket")]
    result = subprocess.run([analyze, "verify", "--man=no", *units], capture_output=True, text=True)
    # verify complains about the absolute ExecStart only when the binary is missing.
    assert "rootless.socket" not in result.stderr or "Unknown" not in result.stderr, result.stderr
    assert "Unknown key" not in result.stderr and "Invalid" not in result.stderr, result.stderr


def test_cli_warns_when_the_daemon_runs_older_code(fresh_engine: Engine, user: TestUser) -> None:
    fresh_engine.cli("info")
    quiet = fresh_engine.cli("version")
    assert "WARNING: rootlessd runs other code" not in quiet.stderr
    # An upgrade changes the installed files under a running daemon.
    src = user.base_env["PYTHONPATH"]
    marker = os.path.join(src, "rootless", "upgrade_marker.py")
    with open(marker, "w") as f:
        f.write("# a new file, as an upgrade would add\n")
    try:
        warned = fresh_engine.cli("version")
        assert "WARNING: rootlessd runs other code than this CLI" in warned.stderr
        fresh_engine.cli("system", "stop")
        assert "WARNING" not in fresh_engine.cli("info").stderr
    finally:
        os.unlink(marker)
