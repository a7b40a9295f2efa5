"""Issue 11, rough edges of our CLI: name completion, the nearest verb, one error prefix, top."""
from __future__ import annotations

import re
import time
from typing import List

import docker
import pytest

from tests.integration.conftest import VENV_PYTHON, Engine


def _complete(engine: Engine, line: str) -> List[str]:
    """What bash's completion function gets for `line` (the cursor at its end)."""
    words = line.split(" ")
    result = engine.user.run([VENV_PYTHON, "-m", "rootless.cli"], env={
        **engine.env, "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1), "_ROOTLESS_COMPLETE": "bash_complete"})
    assert result.stderr == ""
    return [entry.split(",", 1)[1] for entry in result.stdout.splitlines() if entry.startswith("plain,")]


def test_completion_completes_names_of_each_kind(engine: Engine, busybox: str) -> None:
    engine.cli("create", "--name", "complete-me", busybox, "true")
    engine.cli("volume", "create", "complete-vol")
    try:
        started = time.monotonic()
        assert _complete(engine, "rootless rm complete-") == ["complete-me"]
        assert time.monotonic() - started < 10
        assert "complete-me" in _complete(engine, "rootless container logs ")
        assert _complete(engine, "rootless volume rm complete-") == ["complete-vol"]
        assert "bridge" in _complete(engine, "rootless network inspect ")
        assert busybox in _complete(engine, "rootless rmi ")
        assert busybox in _complete(engine, "rootless run --rm ")
        assert _complete(engine, "rootless vol") == ["volume"]
    finally:
        engine.cli("rm", "-f", "complete-me", check=False)
        engine.cli("volume", "rm", "complete-vol", check=False)


def test_completion_is_silent_without_a_daemon(fresh_engine: Engine) -> None:
    assert _complete(fresh_engine, "rootless rm ") == []
    assert _complete(fresh_engine, "rootless start ") == []


@pytest.mark.parametrize("shell,marker", [("bash", "complete -o nosort -F _rootless_completion rootless"),
                                          ("zsh", "#compdef rootless"), ("fish", "--command rootless")])
def test_completion_prints_each_shells_script(engine: Engine, shell: str, marker: str) -> None:
    assert marker in engine.cli("completion", shell).stdout


def test_an_unknown_verb_suggests_the_nearest(engine: Engine) -> None:
    result = engine.cli("psx", check=False)
    assert result.returncode == 2
    assert "Error: No such command 'psx': did you mean `ps`?" in result.stderr


@pytest.mark.parametrize("argv", [["rmi", "nosuch-image"], ["image", "inspect", "nosuch-image"],
                                  ["inspect", "nosuch"], ["stop", "nosuch"], ["rm", "nosuch"],
                                  ["volume", "rm", "nosuch"], ["network", "rm", "nosuch"], ["logs", "nosuch"],
                                  ["top", "nosuch"], ["psx"], ["run", "--memory", "lots", "busybox"],
                                  ["volume", "inspect", "nosuch"]])
def test_every_verb_prints_errors_with_one_prefix(engine: Engine, argv: List[str]) -> None:
    result = engine.cli(*argv, check=False)
    assert result.returncode != 0
    said = [line for line in result.stderr.splitlines()
            if line.strip() and not line.startswith(("Usage:", "Try ", "hint:"))]
    assert said and all(line.startswith("Error: ") for line in said), result.stderr


STIME = re.compile(r"^(\d\d:\d\d|[A-Z][a-z]{2}\d\d|\d{4})$")  # ps: today, this year, before


def test_top_shows_the_containers_user_names_and_start_times(engine: Engine, busybox: str) -> None:
    """The image's passwd names uid 1000 `app` (the host's may call it anything); ps_args are applied."""
    name = engine.cli("run", "-d", "--user", "app", busybox, "sleep", "300").stdout.strip()
    try:
        lines = engine.cli("top", name).stdout.splitlines()
        assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        row = lines[1].split()
        assert row[0] == "app" and STIME.match(row[4]), lines
        assert lines[1].endswith("sleep 300")
        custom = engine.docker("top", name, "-o", "pid,user,args").stdout.splitlines()
        assert custom[0].split() == ["PID", "USER", "COMMAND"] and custom[1].split()[1:] == ["app", "sleep", "300"]
        answer = engine.client().containers.get(name).top(ps_args="aux")
        assert answer["Titles"][:3] == ["USER", "PID", "%CPU"] and answer["Processes"][0][0] == "app"
        with pytest.raises(docker.errors.APIError) as bad:
            engine.client().containers.get(name).top(ps_args="--no-such-option")
        assert bad.value.status_code == 400 and "ps_args: ps refused" in str(bad.value.explanation)
        refused = engine.docker("top", name, "-o", "user=PID", check=False)
        assert refused.returncode != 0 and 'specifying "user=PID" is not allowed' in refused.stderr
    finally:
        engine.cli("rm", "-f", name, check=False)


def test_top_lists_only_the_containers_processes_when_it_shares_a_pid_namespace(engine: Engine, busybox: str) -> None:
    """--pid host and --pid container:X: the pid namespace holds others' processes; top does not show them."""
    owner = engine.cli("run", "-d", busybox, "sleep", "301").stdout.strip()
    joiner = engine.cli("run", "-d", "--pid", f"container:{owner}", busybox, "sleep", "302").stdout.strip()
    host = engine.cli("run", "-d", "--pid", "host", busybox, "sleep", "303").stdout.strip()
    try:
        def commands(name: str) -> List[str]:
            return [line.split(None, 7)[7] for line in engine.cli("top", name).stdout.splitlines()[1:]]

        assert commands(owner) == ["sleep 301"]
        assert commands(joiner) == ["sleep 302"]
        assert commands(host) == ["sleep 303"]
        engine.cli("exec", "-d", host, "sleep", "304")
        assert sorted(commands(host)) == ["sleep 303", "sleep 304"]
    finally:
        engine.cli("rm", "-f", joiner, host, owner, check=False)
