"""runtime/conmon.py: conmon's argv, which containers it can monitor, its exit record, the attach bridge."""
from __future__ import annotations

import os
import socket
import threading

import pytest

from rootless.config.settings import load_settings
from rootless.errors import FailedPrecondition, InvalidArgument
from rootless.runtime import conmon
from rootless.runtime.crun import Crun
from rootless.runtime.logs import LogSettings
from rootless.runtime.monitor_protocol import MonitorConfig
from rootless.wire import stdcopy

CID = "c" * 64


def config(**options) -> MonitorConfig:  # type: ignore[no-untyped-def]
    return MonitorConfig(container_id=CID, bundle="/store/c/bundle", crun_binary="/usr/bin/crun",
                         crun_root="/run/crun", cgroup_manager="cgroupfs", log_path="/store/c/c-json.log",
                         monitor_dir="/run/monitors/c", **options)


CRUN = Crun("/usr/bin/crun", "/run/crun", "cgroupfs")


def pairs(argv):  # type: ignore[no-untyped-def]
    """Option -> values, for options given as separate words."""
    found = {}
    for flag, value in zip(argv, argv[1:]):
        if flag.startswith("-") and not value.startswith("-"):
            found.setdefault(flag, []).append(value)
    return found


def test_argv_is_podmans_shape():
    argv = conmon.conmon_argv("/usr/bin/conmon", CRUN, config())
    options = pairs(argv)
    assert argv[0] == "/usr/bin/conmon" and argv[1:3] == ["--api-version", "1"]
    assert options["-c"] == options["-u"] == [CID]
    assert options["-r"] == ["/usr/bin/crun"] and options["-b"] == ["/store/c/bundle"]
    assert options["-p"] == ["/run/monitors/c/container.pid"] and options["-P"] == ["/run/monitors/c/monitor.pid"]
    assert options["--persist-dir"] == ["/run/monitors/c"]
    assert "--full-attach" in argv and "--no-sync-log" in argv
    # crun's global options before `create`, and its delete as the exit command
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--runtime-arg"] == [
        "--cgroup-manager=cgroupfs", "--root", "/run/crun"]
    assert options["--exit-command"] == ["/usr/bin/crun"]
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--exit-command-arg"] == [
        "--cgroup-manager=cgroupfs", "--root", "/run/crun", "delete", "--force", CID]
    assert options["-l"] == ["k8s-file:/store/c/c-json.log"] and "--log-size-max" not in argv
    for flag in ("-t", "-i", "--leave-stdin-open"):
        assert flag not in argv


def test_argv_stdio_and_log_options():
    tty = conmon.conmon_argv("c", CRUN, config(tty=True, open_stdin=True))
    assert "-t" in tty and "-i" in tty and "--leave-stdin-open" in tty  # a TTY's stdin outlives an attach
    once = conmon.conmon_argv("c", CRUN, config(open_stdin=True, stdin_once=True))
    assert "-i" in once and "--leave-stdin-open" not in once  # StdinOnce: the attach's EOF closes it
    sized = conmon.conmon_argv("c", CRUN, config(log_settings=LogSettings(max_size=4096).to_json()))
    assert pairs(sized)["--log-size-max"] == ["4096"]
    none = conmon.conmon_argv("c", CRUN, config(log_settings=LogSettings(driver="none", keep_file=False).to_json()))
    assert pairs(none)["-l"] == ["none"]


def test_python_only_for_what_conmon_cannot_do():
    assert conmon.python_only_reason(config()) is None
    assert conmon.python_only_reason(config(log_settings=LogSettings(max_size=10, max_files=1).to_json())) is None
    assert conmon.python_only_reason(config(log_settings=LogSettings(driver="none", keep_file=False).to_json())) is None
    assert "slirp4netns" in (conmon.python_only_reason(config(network="slirp4netns")) or "")
    assert "pasta" in (conmon.python_only_reason(config(network="pasta")) or "")
    assert conmon.python_only_reason(config(log_settings=LogSettings(max_size=10, max_files=3).to_json()))
    assert conmon.python_only_reason(config(log_settings=LogSettings(driver="journald").to_json()))
    odd = MonitorConfig(**{**config().to_json(), "log_path": "/a:b/log"})
    assert conmon.python_only_reason(odd)
    assert "OOM" in (conmon.python_only_reason(config(memory_limited=True)) or "")  # conmon misses the kill
    unenforced = MonitorConfig(**{**config(memory_limited=True).to_json(), "cgroup_manager": "disabled"})
    assert conmon.python_only_reason(unenforced) is None  # no limit is applied without cgroups


def test_resolve_monitor(monkeypatch):
    monkeypatch.setattr(conmon, "find_binary", lambda: None)
    assert conmon.resolve_monitor("python") == ("python", None)
    assert conmon.resolve_monitor("auto") == ("python", None)
    with pytest.raises(FailedPrecondition, match="conmon: not found"):
        conmon.resolve_monitor("conmon")
    monkeypatch.setattr(conmon, "find_binary", lambda: "/usr/bin/conmon")
    assert conmon.resolve_monitor("conmon") == ("conmon", "/usr/bin/conmon")
    expected = ("conmon", "/usr/bin/conmon") if conmon.AUTO_PICKS_CONMON else ("python", None)
    assert conmon.resolve_monitor("auto") == expected


def test_monitor_setting_from_env_and_file(tmp_path):
    env = {"HOME": str(tmp_path), "ROOTLESS_CONFIG": str(tmp_path / "none.toml")}
    assert load_settings(env).monitor == "auto"
    assert load_settings({**env, "ROOTLESS_MONITOR": "conmon"}).monitor == "conmon"
    with pytest.raises(InvalidArgument, match="monitor: invalid value 'runc'"):
        load_settings({**env, "ROOTLESS_MONITOR": "runc"})
    (tmp_path / "c.toml").write_text('monitor = "python"\n')
    loaded = load_settings({**env, "ROOTLESS_CONFIG": str(tmp_path / "c.toml")})
    assert loaded.monitor == "python" and not loaded.warnings


def test_exit_record_from_conmons_files(tmp_path):
    assert conmon.exit_record(str(tmp_path)) is None
    (tmp_path / "exit").write_text("137")
    os.utime(tmp_path / "exit", ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    record = conmon.exit_record(str(tmp_path))
    assert record == {"ExitCode": 137, "Signal": 9, "FinishedAt": "2023-11-14T22:13:20.123456789Z"}
    (tmp_path / "oom").write_text("")
    assert conmon.exit_record(str(tmp_path))["OOMKilled"] is True
    (tmp_path / "exit").write_text("3")
    assert conmon.exit_record(str(tmp_path))["Signal"] is None
    (tmp_path / "exit").write_text("")  # torn by a power cut: as if missing
    assert conmon.exit_record(str(tmp_path)) is None


def test_read_sync_line(tmp_path):
    r, w = os.pipe()
    os.write(w, b'{"data": 4242}\n')
    assert conmon.read_sync_line(r, 1) == {"data": 4242}
    os.write(w, b'{"data": -1, "message": "crun: executable file not found"}\n')
    assert conmon.read_sync_line(r, 1)["message"] == "crun: executable file not found"
    os.close(w)
    assert conmon.read_sync_line(r, 1) is None  # conmon died before reporting
    os.close(r)


def test_resize_writes_the_ctl_fifo(tmp_path):
    with pytest.raises(FailedPrecondition, match="not running"):
        conmon.resize(str(tmp_path), 24, 80)  # no fifo
    os.mkfifo(tmp_path / "ctl")
    with pytest.raises(FailedPrecondition, match="not running"):
        conmon.resize(str(tmp_path), 24, 80)  # a fifo without conmon reading it
    reader = os.open(tmp_path / "ctl", os.O_RDONLY | os.O_NONBLOCK)
    try:
        conmon.resize(str(tmp_path), 33, 111)
        assert os.read(reader, 100) == b"1 33 111\n"
    finally:
        os.close(reader)


def test_attach_bridge_speaks_our_protocol(tmp_path):
    # conmon's side: a SOCK_SEQPACKET listener at BUNDLE/attach (a long path goes through /proc/self/fd)
    bundle = tmp_path / ("b" * 110)
    bundle.mkdir()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    dir_fd = os.open(bundle, os.O_PATH)
    listener.bind(f"/proc/self/fd/{dir_fd}/attach")
    os.close(dir_fd)
    listener.listen(1)
    got = []

    def conmon_side():  # type: ignore[no-untyped-def]
        conn, _ = listener.accept()
        conn.send(bytes([conmon.STDOUT_PIPE]) + b"out")
        conn.send(bytes([conmon.STDERR_PIPE]) + b"err")
        while True:
            packet = conn.recv(65536)
            if not packet:
                break
            got.append(packet)
        conn.send(bytes([conmon.STDOUT_PIPE]) + b"bye")
        conn.close()

    thread = threading.Thread(target=conmon_side)
    thread.start()
    ours = conmon.attach(str(bundle), tty=False, stdin=True, stdout=True, stderr=False)
    ours.sendall(b"x" * 20000)  # cut into packets conmon can take
    ours.shutdown(socket.SHUT_WR)  # stdin's EOF
    data = b""
    while True:
        chunk = ours.recv(65536)
        if not chunk:
            break
        data += chunk
    thread.join(5)
    ours.close()
    listener.close()
    assert data == stdcopy.frame(stdcopy.STDOUT, b"out") + stdcopy.frame(stdcopy.STDOUT, b"bye")  # no stderr
    assert b"".join(got) == b"x" * 20000 and max(len(p) for p in got) <= conmon.STDIN_PACKET


def test_attach_to_a_gone_conmon_is_a_precondition(tmp_path):
    with pytest.raises(FailedPrecondition, match="not running"):
        conmon.attach(str(tmp_path), tty=True, stdin=False, stdout=True, stderr=True)


def test_tool_env_drops_the_locale_and_socket_activation():
    env = conmon.tool_env({"PATH": "/usr/bin", "HOME": "/home/u", "LANG": "C.UTF-8", "LC_ALL": "de_DE.UTF-8",
                           "LANGUAGE": "de", "NOTIFY_SOCKET": "/run/systemd/notify", "LISTEN_FDS": "1"})
    assert env == {"PATH": "/usr/bin", "HOME": "/home/u"}


def test_container_conmon_gets_the_tool_env(tmp_path, fp, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/systemd/notify")
    cfg = MonitorConfig(container_id=CID, bundle="/store/c/bundle", crun_binary="/usr/bin/crun",
                        crun_root="/run/crun", cgroup_manager="cgroupfs", log_path="/store/c/c-json.log",
                        monitor_dir=str(tmp_path))
    runner = conmon.Conmon("/usr/bin/conmon", CRUN)
    seen = {}
    fp.register(conmon.conmon_argv("/usr/bin/conmon", runner.crun, cfg),
                callback=lambda process: seen.update(process.kwargs or {}))
    runner._start(cfg, 99, 5.0)
    env = seen["env"]
    assert "LANG" not in env and "NOTIFY_SOCKET" not in env
    assert env["_OCI_SYNCPIPE"] == "99" and "PATH" in env
