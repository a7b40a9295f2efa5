"""Issue 7: another local user must not be able to impersonate rootlessd.

A second user (`nobody`) pre-creates the runtime dir of the test user, or a
socket it can reach, with a fake daemon that answers /_ping and records every
byte it gets. The CLI must refuse with a message naming the path and the
owner, and the fake daemon must receive nothing: not the request line of a
ping, not a registry password, not `run -e SECRET=...`.
"""
from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, Iterator, List

import pytest

from tests.integration.conftest import VENV_PYTHON, TestUser, kill_engine_processes

OTHER_USER = "nobody"

# A fake rootlessd: answers any request with 200 OK "OK" (what /_ping returns)
# and appends what it receives, one line per read, to the log next to it.
FAKE_DAEMON = r'''
import os, socket, sys
path, log = sys.argv[1], sys.argv[2]
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
os.chmod(path, 0o777)
server.listen(16)
open(log + ".ready", "w").close()
while True:
    conn, _ = server.accept()
    with conn, open(log, "a") as out:
        out.write("connection\n")
        out.flush()
        data = b""
        while True:
            chunk = conn.recv(65536)
            out.write(repr(chunk) + "\n")
            out.flush()
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                conn.sendall(b"HTTP/1.1 200 OK\r\nApi-Version: 1.44\r\nContent-Length: 2\r\n\r\nOK")
                data = b""
'''


@dataclass
class FakeDaemon:
    directory: str
    socket: str
    log: str
    proc: "subprocess.Popen[bytes]"

    def received(self) -> List[str]:
        """Every recv() result the fake got, as repr lines; b'' marks a close."""
        time.sleep(0.3)  # let it record a connection the CLI just closed
        with contextlib.suppress(FileNotFoundError):
            with open(self.log) as f:
                return [line.strip() for line in f if line.strip() != "connection"]
        return []


def _other_user() -> pwd.struct_passwd:
    return pwd.getpwnam(OTHER_USER)


def start_fake_daemon(directory: str, mode: int = 0o755) -> FakeDaemon:
    """Make `directory` as the other user and serve a fake rootlessd in it, as that user."""
    other = _other_user()
    os.mkdir(directory)
    os.chmod(directory, mode)
    os.chown(directory, other.pw_uid, other.pw_gid)
    script = os.path.join(directory, "fake.py")
    with open(script, "w") as f:
        f.write(FAKE_DAEMON)
    os.chmod(script, 0o644)
    sock, log = os.path.join(directory, "rootless.sock"), os.path.join(directory, "received.log")

    def demote() -> None:
        os.setgroups([])
        os.setgid(other.pw_gid)
        os.setuid(other.pw_uid)

    proc = subprocess.Popen([sys.executable, script, sock, log], preexec_fn=demote, cwd="/",
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(log + ".ready"):
        assert proc.poll() is None and time.monotonic() < deadline, "fake daemon did not start"
        time.sleep(0.02)
    return FakeDaemon(directory, sock, log, proc)


def stop_fake_daemon(fake: FakeDaemon) -> None:
    fake.proc.kill()
    fake.proc.wait(10)
    shutil.rmtree(fake.directory, ignore_errors=True)


@pytest.fixture()
def scratch(user: TestUser) -> Iterator[str]:
    """A dir the test user owns (0755 so the other user's fake can live beside it)."""
    base = tempfile.mkdtemp(prefix="rootless-peer-", dir="/tmp")
    os.chmod(base, 0o755)
    os.chown(base, user.uid, user.gid)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def long_home(user: TestUser, scratch: str) -> Dict[str, str]:
    """An env without XDG_RUNTIME_DIR / ROOTLESS_RUNTIME_DIR whose runtime dir is /tmp/rootless-$UID.

    The default is a dir in the home; a home too long for socket names
    (sun_path) falls back to /tmp/rootless-$UID, the name another user can take first.
    """
    home = os.path.join(scratch, "h" * 60)
    os.mkdir(home, 0o700)
    os.chown(home, user.uid, user.gid)
    return {"HOME": home, "ROOTLESS_ROOT": os.path.join(home, "root")}


@pytest.fixture()
def tmp_runtime_dir(user: TestUser) -> Iterator[str]:
    path = f"/tmp/rootless-{user.uid}"
    if os.path.lexists(path):
        pytest.skip(f"{path} exists already (another test or session of {user.name} uses it)")
    yield path
    if os.path.islink(path):
        os.unlink(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def rootless(user: TestUser, env: Dict[str, str], *args: str, input: str = "") -> "subprocess.CompletedProcess[str]":
    return user.run([VENV_PYTHON, "-m", "rootless.cli", *args], env=env, input=input, check=False, timeout=60)


VERBS = [
    ("info",),
    ("login", "-u", "alice", "--password-stdin", "registry.example"),
    ("run", "--rm", "-e", "SECRET=hunter2", "busybox", "true"),
]


def assert_refused(result: "subprocess.CompletedProcess[str]", message: str) -> None:
    assert result.returncode != 0, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert "hint:" in result.stderr, result.stderr
    assert "hunter2" not in result.stdout + result.stderr


def test_runtime_dir_of_another_user_in_tmp_is_refused_before_connecting(
        user: TestUser, scratch: str, tmp_runtime_dir: str) -> None:
    env = long_home(user, scratch)
    fake = start_fake_daemon(tmp_runtime_dir)
    try:
        for verb in VERBS:
            result = rootless(user, env, *verb, input="hunter2\n")
            assert_refused(result, f"can't use runtime dir: {tmp_runtime_dir}: owned by uid "
                                   f"{_other_user().pw_uid}, not you (uid {user.uid})")
        assert fake.received() == []
    finally:
        stop_fake_daemon(fake)


def test_runtime_dir_symlinked_to_another_users_dir_is_refused(
        user: TestUser, scratch: str, tmp_runtime_dir: str) -> None:
    env = long_home(user, scratch)
    parent = tempfile.mkdtemp(prefix="rootless-peer-theirs-", dir="/tmp")
    os.chmod(parent, 0o755)
    fake = start_fake_daemon(os.path.join(parent, "d"))
    other = _other_user()
    os.symlink(fake.directory, tmp_runtime_dir)
    os.lchown(tmp_runtime_dir, other.pw_uid, other.pw_gid)
    try:
        for verb in VERBS:
            assert_refused(rootless(user, env, *verb, input="hunter2\n"),
                           f"can't use runtime dir: {tmp_runtime_dir}: is a symlink (to {fake.directory})")
        assert fake.received() == []
    finally:
        stop_fake_daemon(fake)
        os.rmdir(parent)


def test_socket_served_by_another_user_gets_no_bytes(user: TestUser, scratch: str) -> None:
    """Our runtime dir (0700), but its socket leads to another user's listener: SO_PEERCRED."""
    fake = start_fake_daemon(os.path.join(scratch, "theirs"))
    run = os.path.join(scratch, "run")
    os.mkdir(run, 0o700)
    os.symlink(fake.socket, os.path.join(run, "rootless.sock"))
    for path in (run, os.path.join(run, "rootless.sock")):
        os.lchown(path, user.uid, user.gid)
    env = {"ROOTLESS_RUNTIME_DIR": run, "ROOTLESS_ROOT": os.path.join(scratch, "root")}
    try:
        for verb in VERBS:
            assert_refused(rootless(user, env, *verb, input="hunter2\n"),
                           f"can't use rootlessd socket: {run}/rootless.sock: served by uid {_other_user().pw_uid}")
        # DOCKER_HOST-style explicit socket: the same check.
        explicit = {**env, "ROOTLESS_HOST": f"unix://{fake.socket}"}
        assert_refused(rootless(user, explicit, "run", "-e", "SECRET=hunter2", "busybox"),
                       f"can't use rootlessd socket: {fake.socket}: served by uid {_other_user().pw_uid}")
        received = fake.received()
        assert received and set(received) == {"b''"}, received  # it connected, then closed at once
    finally:
        stop_fake_daemon(fake)


def test_without_xdg_runtime_dir_the_daemon_runs_from_the_home(user: TestUser, scratch: str) -> None:
    """The default another user can't create first: ~/.local/share/rootless/run, 0700."""
    home = os.path.join(scratch, "home")
    os.mkdir(home, 0o700)
    os.chown(home, user.uid, user.gid)
    run = os.path.join(home, ".local", "share", "rootless", "run")
    env = {"HOME": home}
    try:
        result = rootless(user, env, "info")
        assert result.returncode == 0, result.stderr
        assert os.stat(run).st_mode & 0o777 == 0o700
        assert os.path.exists(os.path.join(run, "rootless.sock"))
        doctor = rootless(user, env, "doctor")
        assert f"[ok  ] runtime dir: {run}" in doctor.stdout, doctor.stdout
    finally:
        rootless(user, env, "system", "stop", "--all")
        kill_engine_processes(run)
