"""util/proc with real child processes: wait(timeout) returns when the child exits, not at the next poll."""
from __future__ import annotations

import subprocess
import time

import pytest

from rootless.util import proc


def test_popen_wait_with_timeout_returns_promptly() -> None:
    # Popen.wait(timeout)'s own backoff would notice a 70 ms child only at ~94 ms (sleeps 1,2,4,..,32,50 ms).
    child = proc.popen(["sleep", "0.07"], tool="sleep")
    start = time.monotonic()
    assert child.wait(5) == 0
    assert time.monotonic() - start < 0.085


def test_popen_wait_times_out() -> None:
    child = proc.popen(["sleep", "5"], tool="sleep")
    try:
        start = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(0.1)
        assert 0.09 < time.monotonic() - start < 1.0
    finally:
        proc.terminate(child)
    assert child.returncode is not None


def test_wait_exit_fd_of_a_reaped_child_is_false() -> None:
    child = proc.popen(["true"], tool="true")
    child.wait()
    assert proc.wait_exit_fd(child.pid, 0.01) is False  # pidfd_open: ESRCH
