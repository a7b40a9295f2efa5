from __future__ import annotations

import os
import socket
import threading
import time

from rootless.config.paths import Paths
from rootless.errors import Internal, ToolError
from rootless.runtime import monitor, monitor_protocol, supervisor
from rootless.runtime.crun import Crun
from rootless.runtime.supervisor import Supervisor


def make(tmp_path):
    paths = Paths(str(tmp_path / "root"), str(tmp_path / "run"))
    return Supervisor(paths, Crun("crun", paths.crun_state), python="/usr/bin/python3")


def test_error_from_report_keeps_tool_and_hint():
    error = supervisor.error_from_report({"error": "crun: create failed with status 1: chdir failed",
                                          "hint": None})
    assert isinstance(error, ToolError) and error.tool == "crun"
    assert str(error) == "crun: create failed with status 1: chdir failed"
    other = supervisor.error_from_report({"error": "boom", "hint": "try again"})
    assert isinstance(other, Internal) and other.hint == "try again"


def test_new_config_fills_engine_fields(tmp_path):
    sup = make(tmp_path)
    cfg = sup.new_config("c1", "/b", "/log", tty=True)
    assert (cfg.crun_root, cfg.monitor_dir, cfg.tty) == (sup.paths.crun_state, sup.paths.monitor_dir("c1"), True)


def test_state_from_files(tmp_path):
    sup = make(tmp_path)
    os.makedirs(sup.paths.monitor_dir("c1"))
    assert sup.read_exit("c1") is None and sup.monitor_pid("c1") is None and not sup.is_alive("c1")
    with open(sup.paths.exit_file("c1"), "w") as f:
        f.write('{"ExitCode": 3, "Signal": null, "FinishedAt": "x"}')
    assert sup.wait_exit("c1", 0)["ExitCode"] == 3


def test_a_torn_exit_or_ready_file_reads_as_missing(tmp_path):
    # Written without fsync: a power cut can leave them empty where the runtime dir is on disk.
    sup = make(tmp_path)
    os.makedirs(sup.paths.monitor_dir("c1"))
    for name, content in (("exit.json", ""), ("ready.json", '{"pid": 1'), ("other.json", "[1]")):
        path = os.path.join(sup.paths.monitor_dir("c1"), name)
        with open(path, "w") as f:
            f.write(content)
        assert supervisor.runtime_json(path) is None
    assert sup.read_exit("c1") is None
    record = sup.wait_exit("c1", 1)  # no live monitor: the container counts as ended with 255
    assert record["ExitCode"] == 255


def test_wait_exit_when_monitor_died_without_record(tmp_path):
    sup = make(tmp_path)
    os.makedirs(sup.paths.monitor_dir("c1"))
    with open(sup.paths.monitor_pidfile("c1"), "w") as f:
        f.write(f"{os.getpid()}\n")  # alive, but not a monitor
    record = sup.wait_exit("c1", 1)
    assert record["ExitCode"] == 255 and "died" in record["Error"]


def test_connect_unix_long_path(tmp_path):
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    path = str(deep / "s.sock")
    server = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    os.chdir(deep)
    try:
        server.bind("s.sock")
    finally:
        os.chdir(cwd)
    server.listen(1)
    threading.Thread(target=lambda: server.accept()[0].sendall(b"hi\nrest"), daemon=True).start()
    with server, supervisor.connect_unix(path) as conn:
        assert supervisor._read_line(conn) == b"hi"
        assert conn.recv(10) == b"rest"


def test_remove_after_monitor_skips_crun_delete(tmp_path, fp):
    sup = make(tmp_path)
    os.makedirs(sup.paths.monitor_dir("c1"))
    sup.remove("c1")  # no crun state left: no crun call (fp would raise on one)
    assert not os.path.exists(sup.paths.monitor_dir("c1"))
    os.makedirs(os.path.join(sup.paths.crun_state, "c2"))
    fp.register(sup.crun.delete_argv("c2"))
    sup.remove("c2")  # the monitor died before deleting: crun cleans up
    assert fp.call_count(sup.crun.delete_argv("c2")) == 1


def test_is_alive_matches_pid_and_start_time(tmp_path):
    sup = make(tmp_path)
    os.makedirs(sup.paths.monitor_dir("c1"))
    started = monitor_protocol.process_start_time(os.getpid())
    assert started is not None and started == monitor_protocol.process_start_time("self")
    with open(sup.paths.monitor_pidfile("c1"), "w") as f:
        f.write(f"{os.getpid()} {started}\n")  # a zygote-forked monitor's cmdline is not its own
    assert sup.monitor_pid("c1") == os.getpid() and sup.is_alive("c1")
    with open(sup.paths.monitor_pidfile("c1"), "w") as f:
        f.write(f"{os.getpid()} {started + 1}\n")  # a recycled pid
    assert not sup.is_alive("c1")


def test_wait_exit_wakes_on_ready_pipe_eof_while_monitor_finishes(tmp_path):
    sup = make(tmp_path)
    os.makedirs(sup.paths.monitor_dir("c1"))
    with open(sup.paths.monitor_pidfile("c1"), "w") as f:
        f.write(f"{os.getpid()} {monitor_protocol.process_start_time('self')}\n")  # "alive": it is us
    read_end, write_end = os.pipe()
    sup._exit_fds["c1"] = read_end

    def finish() -> None:
        with open(sup.paths.exit_file("c1"), "w") as f:
            f.write('{"ExitCode": 4, "Signal": null, "FinishedAt": "x"}')
        os.close(write_end)  # what the monitor does right after exit.json

    timer = threading.Timer(0.05, finish)
    timer.start()
    start = time.monotonic()
    assert sup.wait_exit("c1", 5)["ExitCode"] == 4
    assert time.monotonic() - start < 2 and "c1" not in sup._exit_fds
    timer.join()


def test_monitor_exec_gets_exit_after_kill_half_closes():
    """kill() is our EOF to the monitor; its exit line still reaches wait()."""
    ours, monitors = socket.socketpair()
    with ours, monitors:
        handle = supervisor.MonitorExec(ours, 42)
        assert handle.poll() is None
        handle.kill()
        assert monitors.recv(16) == b""  # the monitor sees EOF: it kills the exec
        monitors.sendall(b'{"exit": 137}\n')
        assert handle.wait(5) == 137 and handle.poll() == 137


def test_monitor_exec_whose_monitor_vanished_is_255():
    ours, monitors = socket.socketpair()
    with ours:
        monitors.close()
        assert supervisor.MonitorExec(ours, 42).wait(5) == supervisor.MONITOR_GONE


def test_resume_start_without_a_live_monitor_is_none(tmp_path):
    sup = make(tmp_path)
    assert sup.resume_start("c1", timeout=0.1) is None
    os.makedirs(sup.paths.monitor_dir("c1"))
    with open(os.path.join(sup.paths.monitor_dir("c1"), monitor_protocol.READY), "w") as f:
        f.write('{"pid": 5, "ports": [], "monitor_pid": 6}')
    assert sup.resume_start("c1", timeout=0.1) is None  # a ready report, but no monitor behind it


def _fake_monitor(sup, container_id, reply):
    """A ctl.sock that answers one exec request with reply (closing the fds it got)."""
    directory = sup.paths.monitor_dir(container_id)
    os.makedirs(directory)
    server = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        server.bind("ctl.sock")
    finally:
        os.chdir(cwd)
    server.listen(1)
    got = {}

    def answer():
        conn, _ = server.accept()
        with conn:
            got["request"], fds = monitor._read_request(conn)
            got["fds"] = len(fds)
            for fd in fds:
                os.close(fd)
            conn.sendall(reply)
            if b"pid" in reply:
                conn.recv(1)  # until the exec is closed
                conn.sendall(b'{"exit": 0}\n')

    threading.Thread(target=answer, daemon=True).start()
    return server, got


def test_exec_goes_to_the_monitor_with_three_stdio_fds(tmp_path):
    sup = make(tmp_path)
    server, got = _fake_monitor(sup, "c1", b'{"pid": 77}\n')
    with server, sup.exec("c1", "e1", {"args": ["true"]}) as ex:
        assert isinstance(ex.handle, supervisor.MonitorExec) and ex.pid == 77
        ex.kill()
        assert ex.wait(5) == 0
    assert got["fds"] == 3 and got["request"]["exec"]["process"] == sup.paths.exec_process_file("c1", "e1")


def test_exec_runs_crun_itself_for_a_monitor_that_predates_execs(tmp_path, fp):
    sup = make(tmp_path)
    server, _ = _fake_monitor(sup, "c1", b'{"error": "unknown control request: [\'exec\']"}\n')
    argv = sup.crun.exec_argv("c1", sup.paths.exec_process_file("c1", "e1"))
    fp.register(argv, returncode=3)
    with server, sup.exec("c1", "e1", {"args": ["true"]}) as ex:
        assert not isinstance(ex.handle, supervisor.MonitorExec)
        assert ex.wait(5) == 3
    assert fp.call_count(argv) == 1


def test_remove_renames_the_monitor_dir_into_the_trash_and_a_new_supervisor_empties_it(tmp_path, fp):
    sup = make(tmp_path)
    released = threading.Event()
    sup.trash._delete = lambda path: (released.wait(5), __import__("shutil").rmtree(path))
    directory = sup.paths.monitor_dir("c1")
    os.makedirs(directory)
    open(os.path.join(directory, "exit.json"), "w").close()
    sup.remove("c1")  # no monitor, no crun state: nothing runs (fp: a crun call would fail)
    assert not os.path.exists(directory)  # gone from its place at once, before its files are
    trash = os.path.join(sup.paths.monitors, ".trash")
    assert [name.split("-")[0] for name in os.listdir(trash)] == ["c1"]
    released.set()
    deadline = time.monotonic() + 5
    while os.listdir(trash) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert os.listdir(trash) == []
    os.makedirs(os.path.join(trash, "c2-0000"))  # what a killed daemon left
    make(tmp_path)
    deadline = time.monotonic() + 5
    while os.listdir(trash) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert os.listdir(trash) == []
