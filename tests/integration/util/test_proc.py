"""util/proc with real child processes: wait(timeout) returns when the child exits, not at the next poll."""
from __future__ import annotations

import subprocess
import time

import pytest

from rootless.errors import ToolError
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


def test_run_returns_when_the_tool_exits_after_closing_its_pipes() -> None:
    # A tool's pipes reach EOF just before it can be reaped (crun start's, every start): Popen.wait(timeout)'s
    # backoff would then notice this one, which closes them 70 ms before it exits, only at ~113 ms.
    start = time.monotonic()
    result = proc.run(["sh", "-c", "echo out; echo err >&2; exec >&- 2>&-; sleep 0.07"], tool="sh", timeout=5)
    assert time.monotonic() - start < 0.1
    assert (result.returncode, result.stdout, result.stderr) == (0, b"out\n", b"err\n")


def test_run_times_out_and_kills_the_tool() -> None:
    start = time.monotonic()
    with pytest.raises(ToolError) as timed_out:
        proc.run(["sh", "-c", "echo $$; exec sleep 5"], tool="sleep", timeout=0.2)
    assert time.monotonic() - start < 2.0
    assert timed_out.value.message == "sleep: timed out after 0.2s"


def test_run_failure_carries_the_real_stderr_and_input_reaches_stdin() -> None:
    assert proc.run(["cat"], input=b"fed", tool="cat").stdout == b"fed"
    with pytest.raises(ToolError) as failed:
        proc.run(["sh", "-c", "echo broken >&2; exit 3"], tool="sh")
    assert failed.value.returncode == 3
    assert failed.value.message == "sh: exited with status 3: broken"
