"""Docker's small rules of the state machine: signals, start-error exit codes, log options."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from rootless.engine import lifecycle
from rootless.errors import InvalidArgument, ToolError


@pytest.mark.parametrize("value, expected", [(None, 9), ("", 9), ("KILL", 9), ("sigterm", 15), ("15", 15),
                                             ("SIGUSR1", 10)])
def test_parse_signal(value, expected) -> None:  # type: ignore[no-untyped-def]
    assert lifecycle.parse_signal(value) == expected


def test_parse_signal_rejects_unknown_names() -> None:
    with pytest.raises(InvalidArgument, match="invalid signal: NOPE"):
        lifecycle.parse_signal("NOPE")


@pytest.mark.parametrize("message, code", [
    ('exec: "x": executable file not found in $PATH', 127),
    ("open /bin/x: No such file or directory", 127),
    ("exec /etc/passwd: permission denied", 126),
    ("crun: something else", 128),
])
def test_exit_code_for_start_error(message: str, code: int) -> None:
    assert lifecycle.exit_code_for_start_error(message) == code


def test_log_size_units() -> None:
    def container(config):  # type: ignore[no-untyped-def]
        return SimpleNamespace(log_options=config, log_driver="json-file", id="c" * 64, name="box",
                               image_ref="busybox", image_id="sha256:" + "i" * 64)

    assert lifecycle.log_size(container({"max-size": "10k"})) == 10240
    assert lifecycle.log_size(container({"max-size": "1.5m"})) == 1572864
    assert lifecycle.log_size(container({})) == -1
    assert lifecycle.log_files(container({"max-file": "3"})) == 3


def test_local_and_journald_defaults_are_dockers() -> None:
    def container(driver, config):  # type: ignore[no-untyped-def]
        return SimpleNamespace(log_options=config, log_driver=driver, id="c" * 64, name="box",
                               image_ref="busybox", image_id="sha256:" + "i" * 64)

    local = lifecycle.log_settings(container("local", {}))
    assert (local.max_size, local.max_files, local.compress, local.keep_file) == (20 << 20, 5, True, True)
    assert lifecycle.log_settings(container("local", {"compress": "false", "max-file": "2"})).compress is False
    none = lifecycle.log_settings(container("none", {}))
    assert none.keep_file is False and none.driver == "none"


@pytest.mark.parametrize("crun_says, code", [
    ("create failed with status 1: executable file `nosuch` not found in $PATH: No such file or directory", 127),
    ("create failed with status 1: open executable: Permission denied", 126),
    ("create failed with status 1: open executable: Operation not permitted", 126),  # a directory
])
def test_start_errors_in_docker_words(crun_says: str, code: int) -> None:
    error = lifecycle.docker_start_error(ToolError("crun", crun_says))
    assert isinstance(error, InvalidArgument)
    assert error.message.startswith("failed to create task for container: ")
    assert lifecycle.exit_code_for_start_error(error.message) == code


def test_other_start_errors_stay_as_they_are() -> None:
    error = ToolError("crun", "create failed with status 1: mount: No space left on device")
    assert lifecycle.docker_start_error(error) is error
