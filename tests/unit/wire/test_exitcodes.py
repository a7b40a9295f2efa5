"""wire.exitcodes: the daemon's and the CLI's start-error rules, as moby and docker/cli write them."""
from __future__ import annotations

import pytest

from rootless.wire import exitcodes as ec

NOT_FOUND = ('failed to create task for container: exec: "nope": executable file not found in $PATH: unknown')
DENIED = "failed to create task for container: exec /etc/passwd: permission denied"


@pytest.mark.parametrize("message,code", [
    (NOT_FOUND, 127),
    ("exec: /bin/x: No such file or directory", 127),
    ("mount /a on /b: not a directory", 127),
    (DENIED, 126),
    ("exec /etc: Permission Denied", 126),
    ("exec /etc: is a directory", 126),
    ("cgroup setup failed", 128),
])
def test_daemon_start_failure_codes(message: str, code: int) -> None:
    assert ec.start_failure_exit_code(message) == code


def test_exec_failure_defaults_to_126() -> None:
    assert ec.exec_failure_exit_code("runtime refused") == 126
    assert ec.exec_failure_exit_code(NOT_FOUND) == 127


@pytest.mark.parametrize("message,code", [
    (NOT_FOUND, 127),
    ("Error response from daemon: " + NOT_FOUND, 127),
    ("open /x: no such file or directory", 127),
    (DENIED, 126),
    ("exec /etc: is a directory", 126),
    ("exec /etc: Permission denied", 125),  # docker/cli matches case-sensitively
    ("no such image", 125),
])
def test_cli_run_start_codes(message: str, code: int) -> None:
    assert ec.run_start_exit_code(message) == code


@pytest.mark.parametrize("verb,flag_error,status,code", [
    ("run", False, None, 125), ("create", False, None, 1), ("ps", False, None, 1),
    ("run", True, None, 125), ("create", True, None, 125), ("ps", True, None, 1),
    ("run", False, 127, 127), (None, False, None, 1),
])
def test_cli_error_codes(verb: str, flag_error: bool, status: int, code: int) -> None:
    assert ec.cli_error_exit_code(verb, flag_error=flag_error, status=status) == code
