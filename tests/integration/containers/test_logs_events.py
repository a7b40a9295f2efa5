"""Logs (follow, rotation), events with filters, and the run exit-code rules, through both CLIs."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import time

import pytest

from tests.integration.conftest import DOCKER, VENV_PYTHON, Engine


def test_docker_logs_follow_streams_and_ends_when_the_container_stops(engine: Engine, busybox: str) -> None:
    engine.docker("run", "-d", "--name", "dfollow", busybox, "sh", "-c",
                  "echo first; sleep 1.5; echo second >&2; sleep 1; echo last")
    try:
        follower = engine.user.popen([DOCKER, "logs", "-f", "dfollow"], env=engine.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert follower.stdout is not None
        assert follower.stdout.readline() == b"first\n"  # before the container is done
        assert follower.poll() is None
        out, err = follower.communicate(timeout=30)
        assert (follower.returncode, out, err) == (0, b"last\n", b"second\n")
    finally:
        engine.docker("rm", "-f", "dfollow", check=False)


@pytest.mark.parametrize("tool", ["rootless", "docker"])
def test_log_rotation_with_max_size_and_max_file(engine: Engine, busybox: str, tool: str) -> None:
    run = engine.cli if tool == "rootless" else engine.docker
    name = f"rotated-{tool}"
    script = "i=0; while [ $i -lt 400 ]; do echo line-$i-padding-padding; i=$((i+1)); done"
    run("run", "--name", name, "--log-opt", "max-size=2k", "--log-opt", "max-file=3", busybox, "sh", "-c", script)
    try:
        container_id = engine.cli("inspect", "-f", "{{.Id}}", name).stdout.strip()
        assert engine.cli("inspect", "-f", "{{json .HostConfig.LogConfig}}", name).stdout.strip() == \
            '{"Type":"json-file","Config":{"max-file":"3","max-size":"2k"}}' or tool == "rootless"
        files = sorted(glob.glob(os.path.join(engine.root, "containers", container_id, "*-json.log*")))
        assert [os.path.basename(f).split("-json.log")[1] for f in files] == ["", ".1", ".2"]
        assert all(os.path.getsize(f) <= 2048 + 200 for f in files)
        lines = run("logs", name).stdout.splitlines()
        assert lines[-1] == "line-399-padding-padding" and "line-0-padding-padding" not in lines
        numbers = [int(line.split("-")[1]) for line in lines]
        assert numbers == list(range(numbers[0], 400))  # contiguous across the rotated files
        assert run("logs", "--tail", "2", name).stdout.splitlines() == lines[-2:]
    finally:
        engine.cli("rm", "-f", name, check=False)


def test_bad_log_options_are_refused_at_create(engine: Engine, busybox: str) -> None:
    for run in (engine.cli, engine.docker):
        refused = run("run", "--rm", "--log-opt", "max-size=lots", busybox, "true", check=False)
        assert refused.returncode == 125 and "max-size=lots" in refused.stderr
        driver = run("run", "--rm", "--log-driver", "syslog", busybox, "true", check=False)
        assert driver.returncode == 125 and "log driver 'syslog' is not supported by rootless" in driver.stderr


@pytest.mark.parametrize("tool", ["rootless", "docker"])
def test_run_exit_code_rules(engine: Engine, busybox: str, registry, tool: str) -> None:  # type: ignore[no-untyped-def]
    run = engine.cli if tool == "rootless" else engine.docker
    assert run("run", "--rm", busybox, "sh", "-c", "exit 3", check=False).returncode == 3
    killed = run("run", "--rm", busybox, "sh", "-c", 'sh -c "kill -9 \\$\\$"; exit $?', check=False)
    assert killed.returncode == 137  # (pid 1 itself can't be killed from inside)
    not_found = run("run", "--rm", busybox, "no-such-binary", check=False)
    assert not_found.returncode == 127 and "no-such-binary" in not_found.stderr
    assert run("run", "--rm", busybox, "/etc/passwd", check=False).returncode == 126  # not executable
    assert run("run", "--rm", busybox, "/tmp", check=False).returncode == 126  # a directory
    for engine_failure in (("--rm", f"{registry.host}/never-pushed:1", "true"),  # pull fails
                           ("--rm", "--name", "bad/name", busybox, "true"),  # daemon refuses the create
                           ("--rm", "--network", "no-such-net", busybox, "true"),
                           ("--rm", "--ulimit", "bogus=1", busybox, "true")):  # the flag parser refuses
        failed = run("run", *engine_failure, check=False)
        assert failed.returncode == 125, (engine_failure, failed)
    leftovers = engine.cli("ps", "-a", "--filter", f"ancestor={busybox}", "--filter", "status=created", "-q")
    assert leftovers.stdout == ""


def _events(engine: Engine, tool: str, since: str, *args: str) -> list:
    until = str(int(time.time()) + 1)
    if tool == "docker":
        out = engine.docker("events", "--since", since, "--until", until, "--format", "{{json .}}", *args).stdout
    else:
        out = engine.cli("events", "--since", since, "--until", until, "--format", "json", *args).stdout
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("tool", ["rootless", "docker"])
def test_events_filters(engine: Engine, busybox: str, tool: str) -> None:
    since = str(int(time.time()) - 1)
    engine.cli("run", "--name", f"ev-a-{tool}", "-l", f"evtest={tool}", busybox, "true")
    engine.cli("run", "--name", f"ev-b-{tool}", busybox, "sh", "-c", "exit 2", check=False)
    engine.cli("rm", f"ev-a-{tool}", f"ev-b-{tool}")
    time.sleep(0.2)
    by_name = _events(engine, tool, since, "--filter", f"container=ev-a-{tool}")
    assert [e["Action"] for e in by_name] == ["create", "attach", "start", "die", "destroy"] or \
        [e["Action"] for e in by_name if e["Action"] != "attach"] == ["create", "start", "die", "destroy"]
    assert all(e["Type"] == "container" and e["Actor"]["Attributes"]["name"] == f"ev-a-{tool}" for e in by_name)
    dies = _events(engine, tool, since, "--filter", "event=die", "--filter", "type=container")
    codes = {e["Actor"]["Attributes"]["name"]: e["Actor"]["Attributes"]["exitCode"] for e in dies}
    assert codes[f"ev-a-{tool}"] == "0" and codes[f"ev-b-{tool}"] == "2"
    labelled = _events(engine, tool, since, "--filter", f"label=evtest={tool}", "--filter", "event=start")
    assert [e["Actor"]["Attributes"]["name"] for e in labelled] == [f"ev-a-{tool}"]
    assert _events(engine, tool, since, "--filter", "type=volume", "--filter", f"container=ev-a-{tool}") == []


def test_events_stream_live(engine: Engine, busybox: str) -> None:
    for argv in ([DOCKER, "events", "--format", "{{.Action}} {{.Actor.Attributes.name}}"],
                 [VENV_PYTHON, "-m", "rootless.cli", "events", "--format", "json"]):
        watcher = engine.user.popen([*argv, "--filter", "event=start", "--filter", "container=live-ev"],
                                    env=engine.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            time.sleep(1.0)  # subscribed before the event happens
            engine.cli("run", "--rm", "--name", "live-ev", busybox, "true")
            assert watcher.stdout is not None
            line = watcher.stdout.readline().decode()
            assert line.startswith("start live-ev") or json.loads(line)["Action"] == "start"
        finally:
            watcher.kill()
            watcher.wait()


@pytest.mark.parametrize("tool", ["rootless", "docker"])
def test_filters_follow_one_policy(engine: Engine, busybox: str, tool: str) -> None:
    """Issue 8: every list and prune refuses an unknown key or a bad boolean, in moby's words."""
    run = engine.cli if tool == "rootless" else engine.docker
    name = f"keep-{tool}"
    engine.cli("create", "--name", name, busybox, "true")
    try:
        for argv, message in (
                (["container", "prune", "-f", "--filter", "foo=bar"], "invalid filter 'foo'"),
                (["image", "ls", "--filter", "dangling=foo"], "invalid filter 'dangling=[foo]'"),
                (["volume", "ls", "--filter", "dangling=foo"], "invalid filter 'dangling=[foo]'"),
                (["network", "ls", "--filter", "color=red"], "invalid filter 'color'"),
                (["events", "--since", "0", "--until", "0s", "--filter", "foo=bar"], "invalid filter 'foo'")):
            refused = run(*argv, check=False)
            assert refused.returncode == 1 and message in refused.stderr, (argv, refused.stderr)
        # container prune used to ignore the unknown key and remove every stopped container
        assert engine.cli("ps", "-a", "-q", "--filter", f"name={name}").stdout.strip()
    finally:
        engine.cli("rm", "-f", name, check=False)


def test_logs_since_and_until_take_dockers_time_forms(engine: Engine, busybox: str) -> None:
    """rootless logs passes --since/--until through: the engine reads durations, RFC 3339 and unix times."""
    engine.cli("run", "--name", "when", busybox, "echo", "hello")
    try:
        assert engine.cli("logs", "--since", "1h", "when").stdout == "hello\n"
        assert engine.cli("logs", "--since", "2000-01-01T00:00:00Z", "--until", "0s", "when").stdout == "hello\n"
        assert engine.cli("logs", "--until", "2000-01-01", "when").stdout == ""
        assert engine.cli("logs", "--since", str(int(time.time()) + 3600), "when").stdout == ""
        refused = engine.cli("logs", "--since", "soon", "when", check=False)
        assert refused.returncode == 1 and 'failed to parse value as time or duration: "soon"' in refused.stderr
    finally:
        engine.cli("rm", "-f", "when", check=False)
