"""Unit tests for rootless.util.proc that need no real process."""
from __future__ import annotations

import logging
from typing import Any

import pytest

from rootless.errors import ToolError
from rootless.util import proc


def test_popen_uses_pytest_subprocess_fake_when_active(fp: Any) -> None:
    # The pidfd-waiting Popen subclass must not bypass the fake other unit tests rely on.
    fp.register(["crun", "create", "c1"], returncode=0)
    child = proc.popen(["crun", "create", "c1"], tool="crun")
    assert not isinstance(child, proc.Popen)
    assert child.wait(1) == 0
    assert fp.call_count(["crun", "create", "c1"]) == 1


def test_failed_tool_carries_its_stderr_tail(fp):
    fp.register(["crun", "start", "c1"], returncode=1, stderr="noise\ncrun: container `c1` does not exist\n")
    with pytest.raises(ToolError) as failed:
        proc.run(["crun", "start", "c1"], tool="crun")
    assert failed.value.message == "crun: exited with status 1: crun: container `c1` does not exist"
    assert failed.value.returncode == 1
    assert failed.value.argv == ["crun", "start", "c1"]


def test_check_false_returns_the_result(fp):
    fp.register(["true-ish"], returncode=3, stdout="out")
    result = proc.run(["true-ish"], check=False)
    assert (result.returncode, result.text) == (3, "out")


def test_missing_tool_names_the_package(fp):
    fp.register(["slirp4netns", "--help"], callback=_raise_not_found)
    with pytest.raises(ToolError) as failed:
        proc.run(["slirp4netns", "--help"])
    assert failed.value.message == "slirp4netns: not found: slirp4netns"
    assert failed.value.hint == "install it: apt-get install slirp4netns"


def _raise_not_found(process):  # type: ignore[no-untyped-def]
    raise FileNotFoundError("slirp4netns")


def test_secrets_are_logged_masked(fp, caplog):
    fp.register(["login-tool", "--password", "hunter2"])
    with caplog.at_level(logging.DEBUG, logger="rootless.util.proc"):
        proc.run(["login-tool", "--password", proc.Secret("hunter2")])
    assert "executing: login-tool --password '****'" in caplog.text or "executing: login-tool --password ****" in caplog.text
    assert "hunter2" not in caplog.text
