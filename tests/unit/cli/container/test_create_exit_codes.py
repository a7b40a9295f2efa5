"""docker's exit statuses for create and run: 125 for bad flags of both, daemon refusals 125 only for run."""
from __future__ import annotations

from typing import List

import pytest

import rootless.cli
from rootless.cli import _error_exit_code
from rootless.cli.container.parse import parse_ulimit
from rootless.errors import Conflict, InvalidArgument


def _exit_status(args: List[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        rootless.cli.main(args)
    return int(exited.value.code)


def test_a_flag_the_parser_refuses_is_125_for_run_and_create(fake_client, capsys) -> None:  # type: ignore[no-untyped-def]
    for verb in ("create", "run"):
        assert _exit_status([verb, "--ulimit", "bogus=1", "img"]) == 125
        assert "invalid ulimit type: bogus" in capsys.readouterr().err
    assert fake_client.called("create_container") == []


def test_a_daemon_refusal_is_1_for_create_and_125_for_run(fake_client) -> None:  # type: ignore[no-untyped-def]
    fake_client.answers["create_container"] = Conflict('Conflict. The container name "/x" is already in use')
    assert _exit_status(["create", "--name", "x", "img"]) == 1
    assert _exit_status(["run", "--name", "x", "img"]) == 125
    assert _error_exit_code(["container", "create", "img"], Conflict("x")) == 1


@pytest.mark.parametrize("spec, expected", [
    ("nofile=512:1024", {"Name": "nofile", "Soft": 512, "Hard": 1024}),
    ("nproc=300", {"Name": "nproc", "Soft": 300, "Hard": 300}),
    ("core=-1", {"Name": "core", "Soft": -1, "Hard": -1}),
])
def test_ulimits(spec, expected) -> None:  # type: ignore[no-untyped-def]
    assert parse_ulimit(spec) == expected


@pytest.mark.parametrize("spec, message", [
    ("bogus=1", "invalid ulimit type: bogus"),
    ("nofile=x", "invalid ulimit"),
    ("nofile=10:5", "soft limit above hard limit"),
])
def test_bad_ulimits(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_ulimit(spec)
