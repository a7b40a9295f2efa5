"""Every container verb of issue 4 through OUR CLI (`rootless ...`), with the flags it lists.

test_cli.py has run exit codes, stdin, the basic detached lifecycle, cp and
-it; this file covers the rest of the verb list flag by flag.
"""
from __future__ import annotations

import json
import os
import tarfile
import time

import pytest

from tests.integration.conftest import Engine
from tests.integration.containers.waiting import until


def _user_file(engine: Engine, name: str, text: str) -> str:
    path = os.path.join(engine.run_dir, name)
    with open(path, "w") as f:
        f.write(text)
    os.chown(path, engine.user.uid, engine.user.gid)
    return path


def test_create_with_each_flag_then_start_attached(engine: Engine, busybox: str) -> None:
    env_file = _user_file(engine, "verbs.env", "# comment\nFROM_FILE=yes\nPASSED\n")
    created = engine.cli(
        "create", "--name", "allflags", "-e", "A=1", "--env-file", env_file, "-w", "/work/dir", "-u", "app",
        "--entrypoint", "sh", "--hostname", "flaggy", "-l", "tier=web", "-l", "empty=", "--restart", "on-failure:1",
        busybox, "-c", 'echo "$A $FROM_FILE ${PASSED-unset}"; pwd; id -un; id -g; hostname',
        env={"PASSED": "from-env"})
    container_id = created.stdout.strip()
    try:
        assert len(container_id) == 64
        status = engine.cli("inspect", "-f", "{{.State.Status}} {{.HostConfig.RestartPolicy.Name}}"
                            " {{.HostConfig.RestartPolicy.MaximumRetryCount}} {{json .Config.Labels}}",
                            "allflags").stdout.split(" ", 3)
        assert status[:3] == ["created", "on-failure", "1"]
        assert json.loads(status[3]) == {"empty": "", "tier": "web"}
        started = engine.cli("start", "-a", "allflags")
        assert started.stdout.splitlines() == ["1 yes from-env", "/work/dir", "app", "1000", "flaggy"]
        assert engine.cli("wait", "allflags").stdout == "0\n"
    finally:
        engine.cli("rm", "-f", "allflags", check=False)


def test_run_detached_named_and_removed(engine: Engine, busybox: str) -> None:
    container_id = engine.cli("run", "-d", "--rm", "--name", "gone-soon", busybox, "sh", "-c", "sleep 0.3").stdout
    assert len(container_id.strip()) == 64
    until(lambda: engine.cli("inspect", "gone-soon", check=False).returncode == 1)
    assert "gone-soon" not in engine.cli("ps", "-a", "--format", "{{.Names}}").stdout.split()


def test_run_pull_policies_and_auto_pull(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine
    never = engine.cli("run", "--rm", "--pull", "never", images.busybox, "true", check=False)
    assert never.returncode == 125 and "No such image" in never.stderr
    missing = engine.cli("run", "--rm", images.busybox, "echo", "auto-pulled")
    assert missing.stdout == "auto-pulled\n"
    assert f"Unable to find image '{images.busybox}' locally" in missing.stderr
    quiet = engine.cli("run", "--rm", "--pull", "missing", images.busybox, "true")
    assert "Unable to find image" not in quiet.stderr
    always = engine.cli("run", "--rm", "--pull", "always", images.busybox, "true")
    assert "Status:" in always.stderr or "Pulling" in always.stderr or always.stderr == ""
    created = engine.cli("create", images.busybox_oci, "true")
    assert "Unable to find image" in created.stderr
    engine.cli("rm", created.stdout.strip())


def test_ps_all_quiet_filter_format(engine: Engine, busybox: str) -> None:
    engine.cli("run", "-d", "--name", "ps-up", "-l", "audit=ps", busybox, "sleep", "300")
    engine.cli("run", "--name", "ps-down", "-l", "audit=ps", busybox, "sh", "-c", "exit 2", check=False)
    try:
        running = engine.cli("ps", "--filter", "label=audit=ps", "--format", "{{.Names}}").stdout.split()
        assert running == ["ps-up"]
        every = engine.cli("ps", "-a", "--filter", "label=audit=ps", "--format",
                           "{{.Names}}|{{.Status}}|{{.State}}|{{.Image}}|{{.Command}}").stdout.splitlines()
        down = [line for line in every if line.startswith("ps-down|")]
        assert len(every) == 2 and len(down) == 1
        assert down[0].startswith("ps-down|Exited (2)") and f"|exited|{busybox}|" in down[0]
        exited = engine.cli("ps", "-a", "-q", "--filter", "status=exited", "--filter", "label=audit=ps").stdout
        assert exited.split() == [engine.cli("inspect", "-f", "{{.Id}}", "ps-down").stdout.strip()[:12]]
        by_name = engine.cli("ps", "-a", "--filter", "name=ps-up", "--format", "{{.ID}} {{.Names}}").stdout
        assert by_name.split()[1:] == ["ps-up"] and len(by_name.split()[0]) == 12
        as_json = json.loads(engine.cli("ps", "--filter", "name=ps-up", "--format", "json").stdout)
        assert as_json["Names"] == "ps-up" and as_json["State"] == "running"
        table = engine.cli("ps", "-a", "--filter", "label=audit=ps").stdout.splitlines()
        assert table[0].split()[:3] == ["CONTAINER", "ID", "IMAGE"] and len(table) == 3
    finally:
        engine.cli("rm", "-f", "ps-up", "ps-down", check=False)


def test_logs_tail_since_timestamps(engine: Engine, busybox: str) -> None:
    engine.cli("run", "--name", "logbox", busybox, "sh", "-c", "for i in 1 2 3 4 5; do echo line $i; done; echo e >&2")
    try:
        # --tail counts lines of both streams, as docker's does
        tail = engine.cli("logs", "--tail", "3", "logbox")
        assert (tail.stdout, tail.stderr) == ("line 4\nline 5\n", "e\n")
        assert engine.cli("logs", "-n", "0", "logbox").stdout == ""
        stamped = engine.cli("logs", "-t", "--tail", "2", "logbox").stdout
        stamp, _, text = stamped.partition(" ")
        assert text == "line 5\n" and stamp.endswith("Z") and "T" in stamp
        assert engine.cli("logs", "--since", "1h", "logbox").stdout.count("line") == 5
        future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        assert engine.cli("logs", "--since", future, "logbox").stdout == ""
        assert engine.cli("logs", "logbox").stderr == "e\n"
    finally:
        engine.cli("rm", "-f", "logbox", check=False)


def test_logs_follow_streams_and_ends_when_the_container_stops(engine: Engine, busybox: str) -> None:
    engine.cli("run", "-d", "--name", "follow", busybox, "sh", "-c",
               "echo first; sleep 1.5; echo second; sleep 1; echo last")
    try:
        started = time.monotonic()
        followed = engine.cli("logs", "-f", "follow", timeout=30)
        assert followed.stdout == "first\nsecond\nlast\n"
        assert time.monotonic() - started > 1.0  # it waited for the later lines
    finally:
        engine.cli("rm", "-f", "follow", check=False)


def test_stop_kill_restart_rm_and_wait(engine: Engine, busybox: str) -> None:
    engine.cli("run", "-d", "--name", "signals", busybox, "sh", "-c",
               "trap 'echo got-usr1' USR1; trap 'exit 7' TERM; while :; do sleep 0.1; done")
    try:
        time.sleep(0.3)
        assert engine.cli("kill", "-s", "USR1", "signals").stdout == "signals\n"
        until(lambda: "got-usr1" in engine.cli("logs", "signals").stdout)
        started = time.monotonic()
        assert engine.cli("stop", "-t", "20", "signals").stdout == "signals\n"
        assert time.monotonic() - started < 10  # TERM was enough
        assert engine.cli("wait", "signals").stdout == "7\n"
        assert engine.cli("restart", "-t", "1", "signals").stdout == "signals\n"
        assert engine.cli("inspect", "-f", "{{.State.Running}}", "signals").stdout == "true\n"
        waiter = engine.user.popen(engine_cli_argv("wait", "signals"), env=engine.env, stdout=-1, stderr=-1)
        assert engine.cli("kill", "signals").stdout == "signals\n"
        out, _ = waiter.communicate(timeout=30)
        assert out.decode() == "137\n"
        refused = engine.cli("kill", "signals", check=False)
        assert refused.returncode == 1 and "is not running" in refused.stderr
        engine.cli("start", "signals")
        assert engine.cli("rm", "signals", check=False).returncode == 1
        assert engine.cli("rm", "-f", "signals").stdout == "signals\n"
    finally:
        engine.cli("rm", "-f", "signals", check=False)


def engine_cli_argv(*args: str) -> list:
    from tests.integration.conftest import VENV_PYTHON
    return [VENV_PYTHON, "-m", "rootless.cli", *args]


def test_exec_flags(engine: Engine, busybox: str) -> None:
    env_file = _user_file(engine, "exec.env", "FROM_FILE=ef\n")
    engine.cli("run", "-d", "--name", "execbox", "-e", "BASE=b", busybox, "sleep", "300")
    try:
        out = engine.cli("exec", "-e", "X=1", "--env-file", env_file, "-u", "app", "-w", "/tmp", "execbox",
                         "sh", "-c", 'echo "$BASE $X $FROM_FILE"; id -un; pwd').stdout
        assert out.splitlines() == ["b 1 ef", "app", "/tmp"]
        assert engine.cli("exec", "-u", "1000:100", "execbox", "id", "-G").stdout.split()[0] == "100"
        assert engine.cli("exec", "-i", "execbox", "wc", "-l", input="1\n2\n3\n").stdout.strip() == "3"
        assert engine.cli("exec", "-d", "execbox", "sh", "-c", "sleep 0.2; echo detached > /tmp/d").stdout == ""
        until(lambda: engine.cli("exec", "execbox", "cat", "/tmp/d", check=False).stdout == "detached\n")
        for tool in (engine.cli, engine.docker):  # moby's translateContainerdStartErr codes
            assert tool("exec", "execbox", "nosuchcmd", check=False).returncode == 127
            assert tool("exec", "execbox", "/etc/passwd", check=False).returncode == 126
            assert tool("exec", "execbox", "/tmp", check=False).returncode == 126
            assert tool("exec", "execbox", "sh", "-c", "exit 255", check=False).returncode == 255
        stopped = engine.cli("exec", "nonexistent-ctr", "true", check=False)
        assert stopped.returncode == 1 and "No such container" in stopped.stderr
    finally:
        engine.cli("rm", "-f", "execbox", check=False)


def test_inspect_top_rename_port_export_prune(engine: Engine, busybox: str) -> None:
    engine.cli("run", "-d", "--name", "misc", "-p", "127.0.0.1::9000", busybox, "sleep", "300")
    target = os.path.join(engine.run_dir, "misc-export.tar")
    try:
        info = json.loads(engine.cli("inspect", "misc").stdout)
        assert isinstance(info, list) and info[0]["Name"] == "/misc" and info[0]["State"]["Running"] is True
        assert info[0]["Config"]["Cmd"] == ["sleep", "300"] and info[0]["Config"]["Image"] == busybox
        top = engine.cli("top", "misc").stdout.splitlines()
        assert "PID" in top[0] and any("sleep 300" in line for line in top[1:])
        assert engine.cli("rename", "misc", "misc2").returncode == 0
        assert engine.cli("inspect", "-f", "{{.Name}}", "misc2").stdout == "/misc2\n"
        assert engine.cli("inspect", "misc", check=False).returncode == 1
        ports = engine.cli("port", "misc2").stdout
        assert ports.startswith("9000/tcp -> 127.0.0.1:")
        engine.cli("export", "-o", target, "misc2")
        with tarfile.open(target) as tar:
            names = tar.getnames()
        assert "bin/busybox" in names and "etc/passwd" in names
    finally:
        engine.cli("rm", "-f", "misc", "misc2", check=False)
        engine.user.run(["rm", "-f", target], check=False)
    engine.cli("create", "--name", "prune-me", "-l", "audit=prune", busybox, "true")
    engine.cli("run", "-d", "--name", "keep-running", "-l", "audit=prune", busybox, "sleep", "300")
    try:
        pruned = engine.cli("container", "prune", "-f", "--filter", "label=audit=prune").stdout
        assert "Deleted Containers:" in pruned and "Total reclaimed space:" in pruned
        assert engine.cli("inspect", "prune-me", check=False).returncode == 1
        assert engine.cli("inspect", "-f", "{{.State.Running}}", "keep-running").stdout == "true\n"
    finally:
        engine.cli("rm", "-f", "prune-me", "keep-running", check=False)


def test_stats_and_pause_refuse_clearly_on_this_host(engine: Engine, busybox: str) -> None:
    info = json.loads(engine.cli("info", "--format", "json").stdout)
    if info["Rootless"]["CgroupLimits"].startswith("limits enforced"):
        pytest.skip("this host delegates cgroup controllers")
    engine.cli("run", "-d", "--name", "nocgroup", busybox, "sleep", "300")
    try:
        for verb in ("pause", "unpause", "stats"):
            args = [verb, "--no-stream", "nocgroup"] if verb == "stats" else [verb, "nocgroup"]
            refused = engine.cli(*args, check=False)
            assert refused.returncode == 1, (verb, refused)
            assert f"{verb}: not supported on this host" in refused.stderr, refused.stderr
            assert "hint:" in refused.stderr and "Traceback" not in refused.stderr
        limited = engine.cli("run", "--rm", "--memory", "64m", busybox, "true", check=False)
        assert limited.returncode == 125 and "cgroups are not delegated" in limited.stderr
    finally:
        engine.cli("rm", "-f", "nocgroup", check=False)
