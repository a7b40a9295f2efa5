"""Issue 14: docker's --docker "host=...,ca=...,cert=...,key=...,skip-tls-verify=..." option."""
from __future__ import annotations

import pytest

from rootless.cli import _command_words
from rootless.cli.context.create import parse_docker_option
from rootless.errors import InvalidArgument


def test_parse_docker_option() -> None:
    host, tls, skip = parse_docker_option("host=tcp://h:2376,ca=/c/ca.pem,cert=/c/cert.pem,key=/c/key.pem")
    assert host == "tcp://h:2376" and not skip
    assert tls == {"ca": "/c/ca.pem", "cert": "/c/cert.pem", "key": "/c/key.pem"}
    assert parse_docker_option("host=ssh://u@h,skip-tls-verify=true") == ("ssh://u@h", {}, True)


@pytest.mark.parametrize("text,why", [
    ("ca=/x", "host=... is required"),
    ("host=tcp://h,color=blue", "unrecognized config key"),
    ("host=ftp://h", "unsupported scheme"),
    ("host=ssh://h,skip-tls-verify=maybe", "skip-tls-verify"),
])
def test_bad_docker_option(text: str, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        parse_docker_option(text)


def test_global_host_options_are_skipped_when_finding_the_verb() -> None:
    assert _command_words(["-H", "ssh://h", "run", "img"])[:1] == ["run"]
    assert _command_words(["--context", "x", "--tlscacert", "ca.pem", "create", "img"])[:1] == ["create"]
