"""One user, two login styles, one daemon (issue 11, "Rough edges").

After `su -` there is no XDG_RUNTIME_DIR (the runtime dir falls back to the
user's data dir); a later ssh session has one. Both must reach the same
daemon: it records where it listens next to the store lock, and a second
daemon started from the other session stops before making a pause process.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from typing import Dict, Iterator

import pytest

from tests.integration.conftest import VENV_PYTHON, TestUser, kill_engine_processes
from tests.integration.test_hpc_storage import refusing_fs  # noqa: F401  (a fixture)


class Sessions:
    def __init__(self, user: TestUser, base: str) -> None:
        self.user = user
        self.base = base
        self.root = os.path.join(base, "root")
        self.xdg = os.path.join(base, "xdg")  # what logind makes for an ssh session
        self.su_run = os.path.join(base, "data", "rootless", "run")  # the fallback without XDG_RUNTIME_DIR
        self.ssh_run = os.path.join(self.xdg, "rootless")

    def env(self, ssh: bool) -> Dict[str, str]:
        env = {"ROOTLESS_ROOT": self.root, "XDG_DATA_HOME": os.path.join(self.base, "data"),
               "XDG_CONFIG_HOME": os.path.join(self.base, "config"),
               "DOCKER_CONFIG": os.path.join(self.base, "docker")}
        if ssh:
            env["XDG_RUNTIME_DIR"] = self.xdg
        return env

    def cli(self, *args: str, ssh: bool, check: bool = True):  # type: ignore[no-untyped-def]
        return self.user.run([VENV_PYTHON, "-m", "rootless.cli", *args], env=self.env(ssh), check=check,
                             timeout=120)


@pytest.fixture()
def sessions(user: TestUser) -> Iterator[Sessions]:
    base = tempfile.mkdtemp(prefix="rootless-login-", dir="/tmp")
    os.chmod(base, 0o755)
    s = Sessions(user, base)
    for path in (s.root, s.xdg, os.path.join(base, "data"), os.path.join(base, "config")):
        os.makedirs(path, mode=0o700)
        os.chown(path, user.uid, user.gid)
    yield s
    s.cli("system", "stop", "--all", ssh=False, check=False)
    for run in (s.su_run, s.ssh_run):
        kill_engine_processes(run)
    shutil.rmtree(base, ignore_errors=True)


def _info(s: Sessions, ssh: bool) -> dict:  # type: ignore[type-arg]
    return json.loads(s.cli("info", "--format", "json", ssh=ssh).stdout)  # type: ignore[no-any-return]


def test_a_session_with_xdg_runtime_dir_reaches_the_daemon_su_started(sessions: Sessions) -> None:
    s = sessions
    first = _info(s, ssh=False)["Rootless"]
    assert first["RuntimeDir"] == s.su_run
    second = _info(s, ssh=True)["Rootless"]
    assert second["RuntimeDir"] == s.su_run and second["Socket"] == first["Socket"]
    # No second daemon, so no second pause process, in the ssh session's runtime dir.
    assert not os.path.exists(os.path.join(s.ssh_run, "pause.pid"))
    assert not os.path.exists(os.path.join(s.ssh_run, "rootless.sock"))
    # The docker-style socket line works from either session.
    socket = s.cli("info", "--format", "{{.Socket}}", ssh=True).stdout.strip()
    assert socket == first["Socket"]
    # `system stop` from the other session stops that daemon.
    out = s.cli("system", "stop", ssh=True).stdout
    assert "stopped" in out and "not running" not in out
    assert not os.path.exists(first["Socket"])


def test_a_second_daemon_from_the_other_session_says_where_the_first_listens(sessions: Sessions) -> None:
    s = sessions
    s.cli("info", ssh=False)
    result = s.user.run([VENV_PYTHON, "-m", "rootless.daemon"], env=s.env(ssh=True), check=False, timeout=60)
    assert result.returncode == 75, result.stderr  # config/running.py STORE_BUSY_EXIT
    assert f"listens on unix://{os.path.join(s.su_run, 'rootless.sock')}" in result.stderr, result.stderr
    assert "pid ?" not in result.stderr
    assert not os.path.exists(os.path.join(s.ssh_run, "pause.pid")), "a stray pause process was made"


def test_a_record_of_another_user_is_not_trusted(sessions: Sessions) -> None:
    """The record names a socket: one not owned by the user (or open to others) is ignored."""
    s = sessions
    s.cli("info", ssh=False)
    record = os.path.join(s.root, "daemon.json")
    os.chown(record, 0, 0)  # as if another user had written it
    assert s.cli("system", "stop", ssh=True).stdout.strip() == "rootlessd is not running"
    os.chown(record, s.user.uid, s.user.gid)
    os.chmod(record, 0o666)  # or anyone could have
    assert s.cli("system", "stop", ssh=True).stdout.strip() == "rootlessd is not running"
    os.chmod(record, 0o600)
    assert "stopped" in s.cli("system", "stop", ssh=True).stdout


def test_both_sessions_starting_at_once_share_one_daemon(sessions: Sessions) -> None:
    """A start race across login styles: the loser's CLI uses the winner (no error, one pause process)."""
    s = sessions
    for _ in range(3):
        procs = [s.user.popen([VENV_PYTHON, "-m", "rootless.cli", "info", "--format", "{{.Rootless.RuntimeDir}}"],
                              env=s.env(ssh), stdout=subprocess.PIPE, stderr=subprocess.PIPE) for ssh in (False, True)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        dirs = {out.decode().strip() for out, _ in outs}
        assert len(dirs) == 1, outs
        other = s.ssh_run if dirs == {s.su_run} else s.su_run
        assert not os.path.exists(os.path.join(other, "pause.pid")), "a stray pause process was made"
        s.cli("system", "stop", "--all", ssh=dirs == {s.ssh_run})


def test_a_store_moved_off_a_shared_filesystem_is_found_from_the_other_session(
        sessions: Sessions, refusing_fs: str) -> None:
    """The daemon records itself at the root asked for too (issue 15's move): the other session knows only that."""
    s = sessions
    tmpdir = os.path.join(s.base, "tmpdir")
    os.mkdir(tmpdir, 0o700)
    os.chown(tmpdir, s.user.uid, s.user.gid)
    first_run = os.path.join(s.base, "first-run")
    os.mkdir(first_run, 0o700)
    os.chown(first_run, s.user.uid, s.user.gid)
    common = {"ROOTLESS_ROOT": "", "XDG_DATA_HOME": os.path.join(refusing_fs, "data"), "TMPDIR": tmpdir}
    first = s.user.run([VENV_PYTHON, "-m", "rootless.cli", "info", "--format", "json"],
                       env={**s.env(ssh=False), **common, "ROOTLESS_RUNTIME_DIR": first_run})
    rootless = json.loads(first.stdout)["Rootless"]
    assert rootless["StorageRoot"].startswith(tmpdir) and rootless["RuntimeDir"] == first_run
    try:
        second = s.user.run([VENV_PYTHON, "-m", "rootless.cli", "info", "--format", "{{.Rootless.RuntimeDir}}"],
                            env={**s.env(ssh=True), **common})
        assert second.stdout.strip() == first_run
        assert not os.path.exists(os.path.join(s.ssh_run, "pause.pid"))
    finally:
        s.user.run([VENV_PYTHON, "-m", "rootless.cli", "system", "stop", "--all"],
                   env={**s.env(ssh=False), **common, "ROOTLESS_RUNTIME_DIR": first_run}, check=False)
        kill_engine_processes(first_run)
    assert not os.path.exists(os.path.join(refusing_fs, "data", "rootless", "daemon.json"))  # removed at exit
