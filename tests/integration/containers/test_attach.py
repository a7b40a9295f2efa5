"""Attach: the hijacked stream of `run -i`, `attach` to a running container, detach keys."""
from __future__ import annotations

import time

from tests.integration.conftest import DOCKER, VENV_PYTHON, Engine
from tests.integration.containers.ptyrun import PtySession


def test_run_i_never_loses_the_attach_to_the_start(engine: Engine, busybox: str) -> None:
    # docker sends attach, then start at once; an attach queued after the
    # start took the queue never connected (stdin lost, run hung).
    for i in range(8):
        result = engine.docker("run", "--rm", "-i", busybox, "sh", "-c", "cat; echo done", input=f"{i}\n",
                               timeout=30)
        assert result.stdout == f"{i}\ndone\n"
        ours = engine.cli("run", "--rm", "-i", busybox, "cat", input=f"ours {i}\n", timeout=30)
        assert ours.stdout == f"ours {i}\n"
