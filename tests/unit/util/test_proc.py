"""Unit tests for rootless.util.proc that need no real process."""
from __future__ import annotations

from typing import Any

from rootless.util import proc


def test_popen_uses_pytest_subprocess_fake_when_active(fp: Any) -> None:
    # The pidfd-waiting Popen subclass must not bypass the fake other unit tests rely on.
    fp.register(["crun", "create", "c1"], returncode=0)
    child = proc.popen(["crun", "create", "c1"], tool="crun")
    assert not isinstance(child, proc.Popen)
    assert child.wait(1) == 0
    assert fp.call_count(["crun", "create", "c1"]) == 1
