"""Containers through the real docker CLI against our daemon, as the unprivileged user."""
from __future__ import annotations

import json
import os
import tarfile
import socket
import threading
import time
import urllib.request

import pytest

from tests.integration.conftest import DOCKER, Engine
from tests.integration.containers.ptyrun import PtySession


def test_run_rm_returns_the_exit_code(engine: Engine, busybox: str) -> None:
    result = engine.docker("run", "--rm", busybox, "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert result.returncode == 3
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    names = engine.docker("ps", "-a", "--format", "{{.Image}}").stdout.split()
    assert busybox not in names  # --rm removed it


def test_missing_command_exits_127_and_bad_permission_126(engine: Engine, busybox: str) -> None:
    missing = engine.docker("run", "--rm", busybox, "no-such-command", check=False)
    assert missing.returncode == 127, missing.stderr
    denied = engine.docker("run", "--rm", busybox, "/etc/passwd", check=False)
    assert denied.returncode == 126, denied.stderr


def test_missing_image_is_an_engine_error_125(engine: Engine, registry) -> None:  # type: ignore[no-untyped-def]
    result = engine.docker("run", "--rm", f"{registry.host}/nothing-here:1", "true", check=False)
    assert result.returncode == 125
    assert "nothing-here" in result.stderr


def test_detached_lifecycle_logs_exec_stop_rm(engine: Engine, busybox: str) -> None:
    cid = engine.docker("run", "-d", "--name", "lifecycle", busybox,
                        "sh", "-c", "echo started; trap 'echo bye; exit 0' TERM; while :; do sleep 0.1; done"
                        ).stdout.strip()
    assert len(cid) == 64
    try:
        deadline = time.monotonic() + 10
        while "started" not in engine.docker("logs", "lifecycle").stdout:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        status = engine.docker("inspect", "-f", "{{.State.Status}} {{.State.Running}} {{.Name}}", "lifecycle")
        assert status.stdout.strip() == "running true /lifecycle"
        exec_result = engine.docker("exec", "lifecycle", "sh", "-c", "echo in-exec; exit 4", check=False)
        assert (exec_result.returncode, exec_result.stdout) == (4, "in-exec\n")
        piped = engine.docker("exec", "-i", "lifecycle", "cat", input="through stdin\n")
        assert piped.stdout == "through stdin\n"
        engine.docker("stop", "-t", "5", "lifecycle")
        state = engine.docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "lifecycle").stdout
        assert state.strip() == "exited 0"
        assert engine.docker("logs", "lifecycle").stdout == "started\nbye\n"
    finally:
        engine.docker("rm", "-f", "lifecycle", check=False)
    gone = engine.docker("inspect", "lifecycle", check=False)
    assert gone.returncode == 1 and "No such object: lifecycle" in gone.stderr


def test_stdin_reaches_the_container_and_eof_closes_it(engine: Engine, busybox: str) -> None:
    result = engine.docker("run", "--rm", "-i", busybox, "sh", "-c", "cat; echo done", input="a\nb\n")
    assert result.stdout == "a\nb\ndone\n"


def test_interactive_shell_through_a_pty(engine: Engine, busybox: str) -> None:
    env = engine.user.env(engine.env)
    session = PtySession([DOCKER, "run", "-it", "--rm", busybox, "sh"], env, engine.user._demote, engine.user.home,
                         rows=33, cols=101)
    assert session.read_until(b"/ #"), session.output
    session.send(b"echo tty-$((6*7)); stty size; tty\r")
    assert session.read_until(b"tty-42"), session.output
    assert session.read_until(b"/dev/pts/"), session.output
    assert b"33 101" in session.output
    session.send(b"exit 5\r")
    assert session.wait() == 5


def test_stop_kills_a_process_that_ignores_sigterm(engine: Engine, busybox: str) -> None:
    engine.docker("run", "-d", "--name", "stubborn", busybox, "sleep", "300")
    try:
        started = time.monotonic()
        engine.docker("stop", "-t", "1", "stubborn")
        assert time.monotonic() - started < 15
        code = engine.docker("inspect", "-f", "{{.State.ExitCode}}", "stubborn").stdout.strip()
        assert code == "137"
    finally:
        engine.docker("rm", "-f", "stubborn", check=False)


def test_kill_wait_and_restart(engine: Engine, busybox: str) -> None:
    engine.docker("run", "-d", "--name", "killme", busybox, "sleep", "300")
    try:
        waiter = engine.user.popen([DOCKER, "wait", "killme"], env=engine.env, stdout=-1, stderr=-1)
        engine.docker("kill", "-s", "KILL", "killme")
        out, _ = waiter.communicate(timeout=20)
        assert out.decode().strip() == "137"
        engine.docker("restart", "-t", "1", "killme")
        assert engine.docker("inspect", "-f", "{{.State.Running}}", "killme").stdout.strip() == "true"
        not_running = engine.docker("kill", "nonexistent-xyz", check=False)
        assert not_running.returncode == 1 and "No such container: nonexistent-xyz" in not_running.stderr
    finally:
        engine.docker("rm", "-f", "killme", check=False)


def test_rm_refuses_running_and_rm_f_of_missing_is_not_an_error(engine: Engine, busybox: str) -> None:
    engine.docker("run", "-d", "--name", "busy", busybox, "sleep", "300")
    try:
        refused = engine.docker("rm", "busy", check=False)
        assert refused.returncode == 1
        assert 'cannot remove container "/busy": container is running' in refused.stderr
    finally:
        engine.docker("rm", "-f", "busy")
    assert engine.docker("rm", "-f", "busy").returncode == 0


def test_name_conflict(engine: Engine, busybox: str) -> None:
    engine.docker("create", "--name", "twice", busybox, "true")
    try:
        again = engine.docker("create", "--name", "twice", busybox, "true", check=False)
        assert again.returncode == 1
        assert 'The container name "/twice" is already in use' in again.stderr
    finally:
        engine.docker("rm", "twice")


def test_ps_filters_and_formats(engine: Engine, busybox: str) -> None:
    engine.docker("run", "-d", "--name", "psa", "-l", "team=blue", busybox, "sleep", "300")
    engine.docker("run", "--name", "psb", "-l", "team=red", busybox, "true")
    try:
        running = engine.docker("ps", "--format", "{{.Names}}").stdout.split()
        assert "psa" in running and "psb" not in running
        everything = engine.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout.splitlines()
        assert any(line.startswith("psb Exited (0)") for line in everything)
        blue = engine.docker("ps", "-a", "--filter", "label=team=blue", "--format", "{{.Names}}").stdout.split()
        assert blue == ["psa"]
        exited = engine.docker("ps", "-a", "--filter", "status=exited", "--filter", "name=ps",
                               "--format", "{{.Names}}").stdout.split()
        assert exited == ["psb"]
        quiet = engine.docker("ps", "-q", "--no-trunc", "--filter", "name=psa").stdout.split()
        assert len(quiet) == 1 and len(quiet[0]) == 64
    finally:
        engine.docker("rm", "-f", "psa", "psb")


def test_config_options_reach_the_process(engine: Engine, busybox: str) -> None:
    out = engine.docker(
        "run", "--rm", "-e", "FOO=bar", "-w", "/made/by/workdir", "-u", "1000:1000", "--hostname", "boxy",
        busybox, "sh", "-c", "echo $FOO; pwd; id -u; id -g; hostname; cat /etc/hostname").stdout
    assert out.split("\n")[:6] == ["bar", "/made/by/workdir", "1000", "1000", "boxy", "boxy"]
    entry = engine.docker("run", "--rm", "--entrypoint", "echo", busybox, "via", "entrypoint").stdout
    assert entry == "via entrypoint\n"


def test_read_only_rootfs_and_tmpfs(engine: Engine, busybox: str) -> None:
    result = engine.docker("run", "--rm", "--read-only", "--tmpfs", "/scratch", busybox,
                           "sh", "-c", "touch /nope 2>&1; touch /scratch/ok && echo tmpfs-ok", check=False)
    assert "Read-only file system" in result.stdout
    assert "tmpfs-ok" in result.stdout


@pytest.fixture()
def user_dir(engine: Engine):  # type: ignore[no-untyped-def]
    """A scratch dir the test user owns (pytest's tmp_path is root's and private)."""
    import pathlib
    import shutil
    import tempfile
    path = pathlib.Path(tempfile.mkdtemp(dir=engine.run_dir))
    os.chown(path, engine.user.uid, engine.user.gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_volumes_named_and_bind(engine: Engine, busybox: str, user_dir) -> None:  # type: ignore[no-untyped-def]
    host_dir = user_dir / "shared"
    host_dir.mkdir()
    (host_dir / "from-host").write_text("hello host\n")
    os.chown(host_dir, engine.user.uid, engine.user.gid)
    engine.docker("run", "--rm", "-v", "itvol:/data", busybox, "sh", "-c", "echo persisted > /data/f")
    out = engine.docker("run", "--rm", "-v", "itvol:/data", "-v", f"{host_dir}:/host:ro", busybox,
                        "sh", "-c", "cat /data/f /host/from-host; touch /host/x 2>&1 || true").stdout
    assert out.startswith("persisted\nhello host\n")
    assert "Read-only file system" in out
    volumes = engine.docker("volume", "ls", "--format", "{{.Name}}", check=False)
    if volumes.returncode == 0:
        assert "itvol" in volumes.stdout.split()


def test_published_port_reaches_a_server_in_the_container(engine: Engine, busybox: str) -> None:
    cid = engine.docker("run", "-d", "-p", "127.0.0.1::8080", busybox,
                        "sh", "-c", "mkdir /www && echo served > /www/index.html && httpd -f -p 8080 -h /www"
                        ).stdout.strip()
    try:
        port_line = engine.docker("port", cid, "8080/tcp").stdout.strip()
        host, _, port = port_line.rpartition(":")
        assert host == "127.0.0.1" and int(port) > 0
        deadline = time.monotonic() + 15
        while True:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert body == b"served\n"
    finally:
        engine.docker("rm", "-f", cid)


def test_cp_both_directions(engine: Engine, busybox: str, user_dir) -> None:  # type: ignore[no-untyped-def]
    tmp_path = user_dir
    engine.docker("create", "--name", "cpbox", busybox, "true")
    try:
        src = tmp_path / "in.txt"
        src.write_text("into the container\n")
        os.chown(src, engine.user.uid, engine.user.gid)
        engine.docker("cp", str(src), "cpbox:/tmp/new.txt")
        engine.docker("cp", "cpbox:/tmp/new.txt", str(tmp_path / "back.txt"))
        assert (tmp_path / "back.txt").read_text() == "into the container\n"
        engine.docker("cp", "cpbox:/etc", str(tmp_path / "etc-copy"))
        assert (tmp_path / "etc-copy" / "passwd").read_text().startswith("root:x:0:0")
        missing = engine.docker("cp", "cpbox:/no/such", str(tmp_path / "x"), check=False)
        assert missing.returncode == 1 and "Could not find the file /no/such" in missing.stderr
    finally:
        engine.docker("rm", "cpbox")


def test_top_rename_export_and_prune(engine: Engine, busybox: str) -> None:
    engine.docker("run", "-d", "--name", "toppy", busybox, "sleep", "300")
    try:
        top = engine.docker("top", "toppy").stdout
        assert "sleep 300" in top and "PID" in top
        engine.docker("rename", "toppy", "renamed")
        assert engine.docker("inspect", "-f", "{{.Name}}", "renamed").stdout.strip() == "/renamed"
        target = os.path.join(engine.run_dir, "export.tar")
        engine.docker("export", "-o", target, "renamed")
        with tarfile.open(target) as tar:
            names = tar.getnames()
        os.unlink(target)
        assert "bin/busybox" in names and "etc/passwd" in names and "/" not in names
    finally:
        engine.docker("rm", "-f", "renamed")
    engine.docker("run", "--name", "prunable", busybox, "true")
    out = engine.docker("container", "prune", "-f").stdout
    assert "Deleted Containers:" in out
    assert engine.docker("inspect", "prunable", check=False).returncode == 1


def test_limits_and_pause_are_refused_clearly(engine: Engine, busybox: str) -> None:
    info = json.loads(engine.cli("info", "--format", "json").stdout)
    if info["Rootless"]["CgroupLimits"].startswith("limits enforced"):
        pytest.skip("this host delegates cgroup controllers")
    limited = engine.docker("run", "--rm", "--memory", "64m", busybox, "true", check=False)
    assert limited.returncode == 125
    assert "memory limit: cgroups are not delegated to this user" in limited.stderr
    engine.docker("run", "-d", "--name", "nopause", busybox, "sleep", "300")
    try:
        paused = engine.docker("pause", "nopause", check=False)
        assert paused.returncode == 1 and "pause: not supported on this host" in paused.stderr
    finally:
        engine.docker("rm", "-f", "nopause")


def test_docker_update_restart_policy_works_on_every_host(engine: Engine, busybox: str) -> None:
    engine.docker("run", "-d", "--name", "updated", busybox, "sh", "-c", "sleep 1; exit 3")
    try:
        engine.docker("update", "--restart", "always", "updated")
        assert engine.docker("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", "updated").stdout == "always\n"
        deadline = time.monotonic() + 30  # the next exit follows the new policy
        while int(engine.docker("inspect", "-f", "{{.RestartCount}}", "updated").stdout) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        info = json.loads(engine.cli("info", "--format", "json").stdout)
        if not info["Rootless"]["CgroupLimits"].startswith("limits enforced"):
            limited = engine.docker("update", "--memory", "64m", "updated", check=False)
            assert limited.returncode == 1, limited
            assert "memory limit: cgroups are not delegated to this user" in limited.stderr
            host_config = json.loads(engine.docker("inspect", "updated").stdout)[0]["HostConfig"]
            assert host_config["Memory"] == 0 and host_config["RestartPolicy"]["Name"] == "always"
    finally:
        engine.docker("rm", "-f", "updated", check=False)


def test_restart_policy_on_failure(engine: Engine, busybox: str) -> None:
    engine.docker("run", "-d", "--name", "flaky", "--restart", "on-failure:2", busybox, "sh", "-c", "exit 1")
    try:
        deadline = time.monotonic() + 30
        while True:
            state = engine.docker("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "flaky").stdout.split()
            if state == ["2", "exited"]:
                break
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
    finally:
        engine.docker("rm", "-f", "flaky", check=False)


def test_events_stream(engine: Engine, busybox: str) -> None:
    since = str(int(time.time()) - 1)
    engine.docker("run", "--rm", "--name", "evented", busybox, "true")
    until = str(int(time.time()) + 1)
    out = engine.docker("events", "--since", since, "--until", until, "--filter", "container=evented",
                        "--format", "{{.Action}}").stdout.split()
    assert out[:1] == ["create"] and "start" in out and "die" in out and out[-1] == "destroy"


def test_twenty_concurrent_runs(engine: Engine, busybox: str) -> None:
    results = [None] * 20

    def run(i: int) -> None:
        results[i] = engine.docker("run", "--rm", busybox, "sh", "-c", f"echo {i}", check=False, timeout=180)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, result in enumerate(results):
        assert result is not None and result.returncode == 0, result
        assert result.stdout == f"{i}\n"


def test_isolation_inside_the_container(engine: Engine, busybox: str) -> None:
    out = engine.docker("run", "--rm", busybox, "sh", "-c",
                        "ps -o pid,comm | wc -l; ls /proc | grep -c '^[0-9]'; "
                        "grep CapEff /proc/self/status; grep Seccomp: /proc/self/status; cat /proc/1/cmdline").stdout
    lines = out.splitlines()
    assert int(lines[1]) <= 4  # sh, ps/ls ... only the container's own processes
    assert lines[2].split()[1] == "00000000a80425fb"  # docker's default capability set
    assert lines[3].split()[1] == "2"
    escape = engine.docker("run", "--rm", busybox, "sh", "-c", "ls /root/../../home 2>&1; cat /proc/1/root/etc/shadow 2>&1",
                           check=False).stdout
    assert engine.user.home.split("/")[-1] not in escape


def test_network_objects(engine: Engine, busybox: str) -> None:
    created = engine.docker("network", "create", "itnet").stdout.strip()
    try:
        assert len(created) == 64
        names = engine.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
        assert {"bridge", "host", "none", "itnet"} <= set(names)
        subnet = engine.docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "itnet")
        assert subnet.stdout.strip().startswith("10.89.")
        assert engine.docker("run", "--rm", "--network", "itnet", busybox, "echo", "on-itnet").stdout == "on-itnet\n"
        duplicate = engine.docker("network", "create", "itnet", check=False)
        assert duplicate.returncode == 1 and "network with name itnet already exists" in duplicate.stderr
        assert engine.docker("run", "--rm", "--network", "none", busybox, "sh", "-c",
                             "ls /sys/class/net").stdout.split() == ["lo"]
    finally:
        engine.docker("network", "rm", "itnet")
    gone = engine.docker("network", "inspect", "itnet", check=False)
    assert gone.returncode == 1 and "itnet" in gone.stderr
