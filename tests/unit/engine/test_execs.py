"""Exec exit statuses for commands crun could not start (docker's 126/127)."""
from __future__ import annotations

import pytest

from rootless.engine.execs import exec_failure_code


@pytest.mark.parametrize("stderr, code", [
    (b"executable file `nosuch` not found in $PATH: No such file or directory\n", 127),
    (b"output\nexecutable file `/no/x` not found in $PATH: No such file or directory\n", 127),
    (b"open executable: Permission denied\n", 126),
    (b"open executable: Operation not permitted\n", 126),
    (b"cat: can't open '/root/x': Permission denied\n", 255),
    (b"", 255),
])
def test_exec_failure_code(stderr: bytes, code: int) -> None:
    assert exec_failure_code(stderr) == code
