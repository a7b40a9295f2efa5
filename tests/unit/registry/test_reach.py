"""The one-line wording for a registry that cannot be reached (issue 11)."""
from __future__ import annotations

import errno
import socket

import pytest
import requests
import urllib3

from rootless.registry.reach import connect_reason, unreachable


def offline_error(host: str) -> requests.ConnectionError:
    """What requests raises for a name that does not resolve, built as urllib3 builds it."""
    resolve = socket.gaierror(-2, "Name or service not known")
    conn = urllib3.connection.HTTPSConnection(host, 443)
    cause = urllib3.exceptions.NameResolutionError(host, conn, resolve)
    retries = urllib3.exceptions.MaxRetryError(None, "/v2/", cause)  # type: ignore[arg-type]
    return requests.ConnectionError(retries)


def test_an_offline_short_name_pull_says_so_in_one_line() -> None:
    error = offline_error("registry-1.docker.io")
    assert "Max retries exceeded" in str(error)  # what was printed before
    message = unreachable("https://registry-1.docker.io/v2/library/busybox/manifests/latest", error, "x").message
    assert message == ("can't reach registry-1.docker.io (name resolution failed): is the machine offline? "
                       "use a full reference to a reachable registry")


def test_another_registry_that_does_not_resolve() -> None:
    message = unreachable("https://reg.example:5000/v2/", offline_error("reg.example"), "x").message
    assert message == "can't reach reg.example:5000 (name resolution failed): is the machine offline, " \
                      "or the registry's name misspelt?"


@pytest.mark.parametrize("code,reason", [(errno.ECONNREFUSED, "connection refused"),
                                         (errno.ENETUNREACH, "network unreachable"),
                                         (errno.EHOSTUNREACH, "no route to host")])
def test_socket_errors_by_errno(code: int, reason: str) -> None:
    assert connect_reason(requests.ConnectionError(OSError(code, "x"))) == reason


def test_what_is_not_a_connect_failure_keeps_its_own_text() -> None:
    error = requests.ConnectionError("Connection broken: IncompleteRead")
    assert connect_reason(error) is None
    assert unreachable("https://r/v2/", error, "get token: https://r/token").message == \
        "get token: https://r/token: Connection broken: IncompleteRead"
