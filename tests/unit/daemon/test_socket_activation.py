"""sd_listen_fds(3) as the daemon speaks it under contrib/systemd/rootless.socket (issue 12).

A real listening socket in a tmpdir stands in for systemd's fd 3: the function
is handed its number as the first fd.
"""
from __future__ import annotations

import os
import socket
import threading
from typing import Dict, Iterator

import pytest

from rootless.daemon.listeners import SocketWatch, systemd_listener
from rootless.errors import InvalidArgument


@pytest.fixture
def passed_fd(tmp_path) -> Iterator[int]:
    """A listening UNIX socket's fd, inheritable as systemd passes it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(tmp_path / "rootless.sock"))
        sock.listen(1)
        fd = os.dup(sock.fileno())
    os.set_inheritable(fd, True)
    yield fd
    try:
        os.close(fd)
    except OSError:
        pass  # adopted and closed by the test


def activated(fd_count: str = "1", pid: int = 0) -> Dict[str, str]:
    return {"LISTEN_PID": str(pid or os.getpid()), "LISTEN_FDS": fd_count, "LISTEN_FDNAMES": "rootless.socket",
            "HOME": "/home/u"}


def test_the_passed_socket_is_adopted_close_on_exec_and_the_variables_go(passed_fd: int, tmp_path) -> None:
    env = activated()
    sock = systemd_listener(env, os.getpid(), first_fd=passed_fd)
    assert sock is not None and sock.fileno() == passed_fd
    assert env == {"HOME": "/home/u"}  # crun and the pause process must not think they are activated
    assert os.get_inheritable(passed_fd) is False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(str(tmp_path / "rootless.sock"))
        conn, _ = sock.accept()
        conn.close()
    sock.close()


def test_variables_for_another_process_are_dropped_and_the_fd_left_alone(passed_fd: int) -> None:
    env = activated(pid=os.getpid() + 1)
    assert systemd_listener(env, os.getpid(), first_fd=passed_fd) is None
    assert env == {"HOME": "/home/u"}
    assert os.get_inheritable(passed_fd) is True


def test_not_activated() -> None:
    env = {"HOME": "/home/u"}
    assert systemd_listener(env, os.getpid(), first_fd=-1) is None
    assert systemd_listener(activated("0"), os.getpid(), first_fd=-1) is None


def test_more_than_one_socket_is_refused(passed_fd: int) -> None:
    with pytest.raises(InvalidArgument, match="LISTEN_FDS='2': the daemon serves one socket") as err:
        systemd_listener(activated("2"), os.getpid(), first_fd=passed_fd)
    assert err.value.hint is not None and "single ListenStream=" in err.value.hint


def test_an_fd_that_is_no_listening_unix_socket_is_refused_and_not_closed() -> None:
    read_end, write_end = os.pipe()
    left, right = socket.socketpair()
    try:
        with pytest.raises(InvalidArgument, match=f"fd {read_end}: Socket operation on non-socket"):
            systemd_listener(activated(), os.getpid(), first_fd=read_end)
        with pytest.raises(InvalidArgument, match="is not a listening UNIX stream socket"):
            systemd_listener(activated(), os.getpid(), first_fd=left.fileno())
        os.fstat(left.fileno())  # still open: a refused fd is not ours to close
    finally:
        for fd in (read_end, write_end):
            os.close(fd)
        left.close()
        right.close()


def bound(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    return sock


def test_a_daemon_whose_socket_file_is_replaced_stops_and_leaves_the_successors_file(tmp_path) -> None:
    """`systemctl --user enable --now rootless.socket` while a CLI-started daemon runs: systemd binds the
    path anew; the old daemon, unreachable but holding the store lock, must go so activation can start."""
    path = str(tmp_path / "rootless.sock")
    stopped = threading.Event()
    with bound(path):
        watch = SocketWatch(path, stopped.set, interval=0.01).start()
        assert not stopped.wait(0.1)  # unchanged: keeps serving
        os.unlink(path)
        with bound(path):  # systemd's socket now
            assert stopped.wait(5)
            watch.close()
            watch.remove_if_ours()
            assert os.path.exists(path)
    os.unlink(path)


def test_at_a_normal_exit_the_own_socket_file_goes(tmp_path) -> None:
    path = str(tmp_path / "rootless.sock")
    stopped = threading.Event()
    with bound(path):
        watch = SocketWatch(path, stopped.set, interval=0.01).start()
        watch.close()
        watch.remove_if_ours()
    assert not os.path.exists(path) and not stopped.is_set()


def test_a_removed_socket_file_stops_the_daemon(tmp_path) -> None:
    path = str(tmp_path / "rootless.sock")
    stopped = threading.Event()
    with bound(path):
        watch = SocketWatch(path, stopped.set, interval=0.01).start()
        os.unlink(path)
        assert stopped.wait(5)
        watch.close()
        watch.remove_if_ours()  # nothing there: no error
