"""A CliRunner wired to a fake APIClient: checks what verbs send and print, not the engine."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
from click.testing import CliRunner

import rootless.cli
import rootless.cli.root
from rootless.cli import fast_run
from rootless.cli.app import App


class FakeClient:
    """Records calls; answers from .answers[method] (a value, a callable, or an exception)."""

    def __init__(self) -> None:
        self.calls: List[tuple] = []
        self.answers: Dict[str, Any] = {}

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((method, args, kwargs))
            answer = self.answers.get(method)
            if isinstance(answer, BaseException):
                raise answer
            if callable(answer):
                return answer(*args, **kwargs)
            return answer
        return call

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
