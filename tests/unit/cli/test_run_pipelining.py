"""`rootless run` sends its create, then imports the streaming code while the daemon creates
(bench/README.md "rootless run, client side").

Checked in-process against test_fast_run.py's fake daemon by recording the
transport's sends and reads in order, and what was imported when the create
went out.
"""
from __future__ import annotations

import sys
from typing import Any, List, Tuple

import pytest

from rootless.client import transport
from tests.unit.cli.test_fast_run import RunDaemon, fake, run_click, run_fast  # noqa: F401
from tests.unit.cli.test_startup_imports import daemon, fresh_rootless  # noqa: F401

STREAMING = "rootless.cli.container.streaming"


def _verb(target: str) -> str:
    return target.split("?")[0].rsplit("/", 1)[-1]


def test_the_create_is_sent_before_the_streaming_code_is_imported(fake, capfd, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Its import runs while the daemon creates (with -t the TTY's checks need it before the body)."""
    seen: List[bool] = []
    with fresh_rootless(()):
        fresh_transport = __import__("rootless.client.transport", fromlist=["send"])
        real_send = fresh_transport.send

        def send(socket_path: Any, method: str, target: str, **kwargs: Any) -> Any:
            if _verb(target) == "create":
                seen.append(STREAMING in sys.modules)
            return real_send(socket_path, method, target, **kwargs)

        monkeypatch.setattr(fresh_transport, "send", send)
        fresh_fast_run = __import__("rootless.cli.fast_run", fromlist=["run"])
        assert STREAMING not in sys.modules
        assert fresh_fast_run.run(["run", "--rm", "img"]) == 3
        assert STREAMING in sys.modules
    assert seen == [False]
    assert capfd.readouterr().out == "out\n"


def record(monkeypatch: pytest.MonkeyPatch) -> List[Tuple[str, str]]:
    """("send" | "answer", the request's last path segment) of each request, in order."""
    events: List[Tuple[str, str]] = []
    real_send, real_response = transport.send, transport.Sent.response

    def send(socket_path: Any, method: str, target: str, **kwargs: Any) -> Any:
        events.append(("send", _verb(target)))
        sent = real_send(socket_path, method, target, **kwargs)
        sent.verb = _verb(target)  # type: ignore[attr-defined]
        return sent

    def response(self: Any) -> Any:
        events.append(("answer", self.verb))
        return real_response(self)

    monkeypatch.setattr(transport, "send", send)
    monkeypatch.setattr(transport.Sent, "response", response)
    return events


@pytest.mark.parametrize("path", ["fast", "click"])
def test_each_answer_is_read_before_the_next_request(fake, capfd, monkeypatch, path) -> None:  # type: ignore[no-untyped-def]
    """The id comes from the create's answer; the attach and the wait are in place before the start."""
    events = record(monkeypatch)
    result = (run_fast if path == "fast" else run_click)(["run", "--rm", "img"], fake, capfd)
    assert result[:3] == (3, "out\n", "err\n")
    assert [e for e in events if e[1] != "_ping"] == [
        ("send", "create"), ("answer", "create"), ("send", "attach"), ("answer", "attach"),
        ("send", "wait"), ("answer", "wait"), ("send", "start"), ("answer", "start")]


@pytest.mark.parametrize("case", ["name-taken", "missing-image"])
def test_the_creates_answer_read_after_the_imports_is_handled_as_before(fake, capfd, case) -> None:  # type: ignore[no-untyped-def]
    """A refusal is reported as click's path reports it, a missing image still goes to click's path
    (it pulls), with one create request from the fast path."""
    fake.create = ((409, {"message": 'Conflict. The container name "/x" is already in use'}) if case == "name-taken"
                   else (404, {"message": "No such image: img:latest"}))
    args = ["run", "--rm", "--name", "x", "img"]
    status, out, err, requests = run_fast(args, fake, capfd)
    assert [_verb(t) for _, t, _ in requests] == ["create"]
    if case == "missing-image":
        assert (status, out, err) == (None, "", "")
    else:
        assert (status, out, err, requests) == run_click(args, fake, capfd)
        assert status == 125 and err.startswith("Error: Conflict.")
