"""A CliRunner wired to a fake APIClient: checks what verbs send and print, not the engine."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
from click.testing import CliRunner

import rootless.cli
import rootless.cli.root
from rootless.cli import fast_run
from rootless.cli.app import App


# The endpoints that send now and answer later (client/base.py Pending), each recorded and answered
# as the method that sends and answers at once.
SENT_FIRST = {"create_container_send": "create_container"}


class FakePending:
    """client/base.py's Pending for FakeClient: the answer (a value, a callable, or an exception) when read."""

    def __init__(self, answer: Any, args: tuple, kwargs: Dict[str, Any]) -> None:  # type: ignore[type-arg]
        self.answer, self.args, self.kwargs = answer, args, kwargs

    def response(self) -> Any:
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer(*self.args, **self.kwargs) if callable(self.answer) else self.answer

    json = response

    def close(self) -> None:
        pass


class FakeClient:
    """Records calls; answers from .answers[method] (a value, a callable, or an exception)."""

    def __init__(self) -> None:
        self.calls: List[tuple] = []
        self.answers: Dict[str, Any] = {}

    def __getattr__(self, method: str) -> Any:
        if method in SENT_FIRST:
            return self._send(SENT_FIRST[method])

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((method, args, kwargs))
            answer = self.answers.get(method)
            if isinstance(answer, BaseException):
                raise answer
            if callable(answer):
                return answer(*args, **kwargs)
            return answer
        return call

    def _send(self, method: str) -> Any:
        """A *_send endpoint: the call recorded as `method`'s now, its answer given by .response()/.json()."""
        def send(*args: Any, **kwargs: Any) -> FakePending:
            self.calls.append((method, args, kwargs))
            return FakePending(self.answers.get(method), args, kwargs)
        return send

    def called(self, method: str) -> List[tuple]:
        return [(a, k) for m, a, k in self.calls if m == method]


@pytest.fixture
def fake_client(monkeypatch):
    client = FakeClient()

    def make_app(*args: Any, **kwargs: Any) -> App:
        app = App(*args, **kwargs)
        app._client = client  # type: ignore[assignment]
        return app

    monkeypatch.setattr(rootless.cli.root, "App", make_app)
    # `run` through rootless.cli.main tries cli/fast_run.py first: it must see the same fake
    make_fast_app = fast_run._app

    def make_fast_run_app(root: Dict[str, object]) -> App:
        app = make_fast_app(root)
        app._client = client  # type: ignore[assignment]
        return app

    monkeypatch.setattr(fast_run, "_app", make_fast_run_app)
    return client


@pytest.fixture
def invoke(fake_client):
    runner = CliRunner()

    def run(*args: str, input: str = None):
        return runner.invoke(rootless.cli.cli, list(args), input=input, catch_exceptions=False)
    return run
