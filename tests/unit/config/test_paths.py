"""The runtime dir: where it is without XDG_RUNTIME_DIR, and refusing one another user controls (issue 7)."""
from __future__ import annotations

import os

import pytest

from rootless.config.paths import RUN_DIR_MAX, SUN_PATH_MAX, Paths, check_run_dir, default_runtime_dir
from rootless.errors import PermissionDenied


def test_xdg_runtime_dir_wins() -> None:
    env = {"HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1000"}
    assert default_runtime_dir(env, 1000) == "/run/user/1000/rootless"


def test_without_xdg_a_dir_in_home_another_user_cannot_create_first() -> None:
    assert default_runtime_dir({"HOME": "/home/u"}, 1000) == "/home/u/.local/share/rootless/run"
    assert default_runtime_dir({"HOME": "/home/u", "XDG_DATA_HOME": "/d"}, 1000) == "/d/rootless/run"


def test_a_home_too_long_for_socket_names_falls_back_to_tmp() -> None:
    home = "/home/" + "x" * (RUN_DIR_MAX - len("/home//.local/share/rootless/run") + 1)
    assert default_runtime_dir({"HOME": home}, 1000) == "/tmp/rootless-1000"
    fits = home[:-1]
    assert default_runtime_dir({"HOME": fits}, 1000) == fits + "/.local/share/rootless/run"
    # The longest name bound or connected by path still fits sun_path.
    paths = Paths(root="/r", run=fits + "/.local/share/rootless/run")
    assert len(paths.exec_console_socket("f" * 64)) <= SUN_PATH_MAX
    assert len(paths.socket) <= SUN_PATH_MAX


def _private(tmp_path, name: str = "run", mode: int = 0o700) -> str:
    path = str(tmp_path / name)
    os.mkdir(path)
    os.chmod(path, mode)
    return path


def test_a_private_dir_of_ours_is_accepted(tmp_path) -> None:
    check_run_dir(_private(tmp_path))


def test_a_dir_owned_by_another_user_is_refused_naming_path_and_owner(tmp_path) -> None:
    path = _private(tmp_path)
    me = os.geteuid()
    with pytest.raises(PermissionDenied) as err:
        check_run_dir(path, euid=me + 1)
    assert err.value.message == f"can't use runtime dir: {path}: owned by uid {me}, not you (uid {me + 1})"
    assert "impersonate rootlessd" in (err.value.hint or "")


@pytest.mark.parametrize("mode", [0o755, 0o770, 0o701, 0o1777])
def test_a_dir_open_to_others_is_refused(tmp_path, mode: int) -> None:
    path = _private(tmp_path, mode=mode)
    with pytest.raises(PermissionDenied, match=f"^can't use runtime dir: {path}: mode {mode & 0o7777:04o} lets other"):
        check_run_dir(path)


def test_a_symlink_is_refused_even_to_a_private_dir(tmp_path) -> None:
    target = _private(tmp_path, "theirs")
    link = str(tmp_path / "run")
    os.symlink(target, link)
    with pytest.raises(PermissionDenied, match=f"^can't use runtime dir: {link}: is a symlink \\(to {target}\\)"):
        check_run_dir(link)
    with pytest.raises(PermissionDenied, match="is a symlink"):
        Paths(root=str(tmp_path / "root"), run=link).ensure_run_dir()


def test_a_file_is_refused(tmp_path) -> None:
    path = tmp_path / "run"
    path.write_text("")
    with pytest.raises(PermissionDenied, match="not a directory"):
        check_run_dir(str(path))


def test_ensure_run_dir_creates_it_private(tmp_path) -> None:
    old = os.umask(0)
    try:
        paths = Paths(root=str(tmp_path / "root"), run=str(tmp_path / "a" / "run"))
        assert not paths.has_run_dir()
        paths.ensure_run_dir()
    finally:
        os.umask(old)
    assert os.stat(paths.run).st_mode & 0o777 == 0o700
    assert paths.has_run_dir()


def test_ensure_run_dir_does_not_quietly_fix_a_dir_open_to_others(tmp_path) -> None:
    path = _private(tmp_path, mode=0o777)
    with pytest.raises(PermissionDenied, match="lets other users in") as err:
        Paths(root=str(tmp_path / "root"), run=path).ensure_run_dir()
    assert (err.value.hint or "").startswith(f"chmod 700 {path}")
    assert os.stat(path).st_mode & 0o777 == 0o777


def _stale_run_dir(tmp_path) -> Paths:
    paths = Paths(root=str(tmp_path / "root"), run=_private(tmp_path))
    for name in (paths.socket, paths.daemon_pidfile, paths.pause_pidfile, paths.daemon_log,
                 os.path.join(paths.run, "mine.txt")):
        with open(name, "w") as f:
            f.write("x")
    for name in (paths.crun_state, paths.monitor_dir("c1"), paths.exec_sockets):
        os.makedirs(name)
    return paths


def test_state_of_a_previous_boot_is_dropped_as_tmpfs_would(tmp_path) -> None:
    """The runtime dir in the home outlives a reboot: stale pidfiles would name reused pids."""
    paths = _stale_run_dir(tmp_path)
    paths.forget_previous_boot("boot-1")  # first use: nothing is known to be stale
    assert sorted(os.listdir(paths.run)) == sorted(
        ["boot-id", "crun", "exec", "monitors", "mine.txt", "pause.pid", "rootless.sock",
         "rootlessd.log", "rootlessd.pid"])
    paths.forget_previous_boot("boot-1")  # same boot: kept
    assert os.path.exists(paths.daemon_pidfile)
    paths.forget_previous_boot("boot-2")
    # Only names Paths gives out go; the log and anything else stay.
    assert sorted(os.listdir(paths.run)) == ["boot-id", "mine.txt", "rootlessd.log"]
    with open(paths.boot_id_file) as f:
        assert f.read() == "boot-2\n"
