"""bin/rootless, the installed `rootless` command (issue 13, bench/README.md "CLI start-up, session 9").

pip writes its own script for a [project.scripts] entry point, and that script
imports `re` (~4.5 ms) before rootless.cli. `rootless` is therefore a script of
ours, installed from pyproject's script-files; pip replaces a `#!python` first
line with the interpreter it installs for. These tests check what pip needs of
it and run its text in-process with `re` and what `re` loads made unimportable.
"""
from __future__ import annotations

import os
import sys
from typing import List

import pytest

from tests.unit.cli.test_startup_imports import NOT_FOR_LOCAL_VERBS, daemon, fresh_rootless  # noqa: F401

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(REPO, "bin", "rootless")
# `re` and the modules it loads, none of which the fast paths need; json loads `re` as well.
NOT_FOR_THE_SCRIPT = ("re", "enum", "functools", "collections", "operator", "json", "click", "typing")


def pyproject() -> dict:  # type: ignore[type-arg]
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def test_pip_installs_bin_rootless_as_the_rootless_command() -> None:
    project = pyproject()
    assert project["tool"]["setuptools"]["script-files"] == ["bin/rootless"]
    assert "rootless" not in project["project"]["scripts"]  # two scripts named rootless: one would win
    assert project["project"]["scripts"]["rootlessd"] == "rootless.daemon.main:main"


def test_the_first_line_is_the_one_pip_rewrites() -> None:
    """pip's fix_script: a first line starting with #!python becomes #!<the venv's python>."""
    with open(SCRIPT, "rb") as f:
        assert f.readline() == b"#!python\n"
    assert os.stat(SCRIPT).st_mode & 0o111 == 0o111


class _Exited(BaseException):
    """os._exit, in-process: the script's fast paths end with it (rootless/cli/__init__.py exit_now)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _fake_exit(status: int) -> None:
    raise _Exited(status)


# How each run_script call ended: "os._exit" or "SystemExit".
ENDINGS: List[str] = []


def run_script(args: List[str]) -> int:
    """The script's text as the interpreter runs it: __main__, argv[0] the script's path. os._exit
    raises instead of ending the test run."""
    with open(SCRIPT) as f:
        code = compile(f.read(), SCRIPT, "exec")
    saved, saved_exit = sys.argv, os._exit
    sys.argv = [SCRIPT] + args
    os._exit = _fake_exit  # type: ignore[assignment]
    try:
        exec(code, {"__name__": "__main__"})
    except _Exited as exc:
        ENDINGS.append("os._exit")
        return exc.status
    except SystemExit as exc:
        ENDINGS.append("SystemExit")
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved
        os._exit = saved_exit
    raise AssertionError("the script did not exit")


@pytest.mark.parametrize("args", [["ps"], ["images", "-q"], ["container", "ls", "-a"]])
@pytest.mark.parametrize("docker_host", [True, False], ids=["DOCKER_HOST", "default context"])
def test_the_script_runs_the_fast_paths_without_re(daemon, monkeypatch, capsys, args, docker_host) -> None:  # type: ignore[no-untyped-def]
    if docker_host:
        monkeypatch.setenv("DOCKER_HOST", f"unix://{daemon.path}")
    else:  # currentContext is read from config.json through the context store
        config = os.path.join(os.environ["HOME"], ".docker")
        os.makedirs(config)
        with open(os.path.join(config, "config.json"), "w") as f:
            f.write('{"currentContext": "default"}')
    allowed = () if docker_host else ("rootless.config.contexts",)
    with fresh_rootless(NOT_FOR_THE_SCRIPT + tuple(m for m in NOT_FOR_LOCAL_VERBS if m not in allowed)):
        assert run_script(args) == 0
    assert daemon.paths and capsys.readouterr().out


def test_the_script_answers_version_without_re(capsys) -> None:  # type: ignore[no-untyped-def]
    from rootless import __version__

    with fresh_rootless(NOT_FOR_THE_SCRIPT + ("socket", "_socket", "_json")):
        assert run_script(["--version"]) == 0
    assert capsys.readouterr().out == f"rootless version {__version__}\n"


def test_the_script_passes_click_its_exit_status(capsys) -> None:  # type: ignore[no-untyped-def]
    assert run_script(["--no-such-flag"]) == 2
    assert "No such option" in capsys.readouterr().err


def test_the_fast_paths_end_in_os_exit_and_clicks_path_does_not(daemon, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """The interpreter's shutdown costs ~2.4 ms of CPU (bench/README.md "rootless run, client side"): a
    command the click-free paths finished skips it; click's path (atexit handlers, threads) keeps it."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{daemon.path}")
    ENDINGS.clear()
    assert run_script(["--version"]) == 0 and run_script(["ps", "-q"]) == 0
    assert run_script(["--no-such-flag"]) == 2
    assert ENDINGS == ["os._exit", "os._exit", "SystemExit"]
    assert capsys.readouterr().out.startswith("rootless version ")


class _Stream:
    def __init__(self, name: str, log: List[str], fails: bool = False) -> None:
        self.name, self.log, self.fails = name, log, fails

    def flush(self) -> None:
        self.log.append(f"flush {self.name}")
        if self.fails:
            raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("stdout_fails", [False, True], ids=["flushed", "stdout-closed"])
def test_exit_now_flushes_both_streams_first_and_a_closed_stdout_exits_1(monkeypatch, stdout_fails) -> None:  # type: ignore[no-untyped-def]
    """os._exit skips the flush the interpreter would do: exit_now does it first. A flush that fails
    (`rootless run ... | head -c 5`) exits 1 (or the status it had), never through the interpreter,
    whose own last flush failed again (exit status 120 and "Exception ignored")."""
    from rootless.cli import exit_now

    log: List[str] = []
    monkeypatch.setattr(sys, "stdout", _Stream("stdout", log, fails=stdout_fails))
    monkeypatch.setattr(sys, "stderr", _Stream("stderr", log))
    monkeypatch.setattr(os, "_exit", lambda status: log.append(f"_exit {status}"))
    exit_now(3)
    assert log == ["flush stdout", "flush stderr", "_exit 3"]
    log.clear()
    exit_now(0)
    assert log == ["flush stdout", "flush stderr", "_exit 1" if stdout_fails else "_exit 0"]
    monkeypatch.setattr(sys, "stdout", None)  # fd 1 closed at start: Python sets sys.stdout to None
    log.clear()
    exit_now(0)
    assert log == ["flush stderr", "_exit 0"]
