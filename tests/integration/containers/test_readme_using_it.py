"""README "Using it" runs as written (issue 11), but for where busybox comes from: Docker Hub there,
the session's local registry here (these tests run offline), tagged as plain `busybox`."""
from __future__ import annotations

import os
import re
from typing import List

from tests.integration.conftest import REPO, Engine


def _sh_blocks() -> List[List[str]]:
    """The ```sh blocks of the README's "Using it" section, as lists of lines."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("\n## Using it\n", 1)[1].split("\n### ", 1)[0]
    return [block.strip().splitlines() for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)]


def _sh(engine: Engine, script: str) -> str:
    # No XDG_RUNTIME_DIR, and no DOCKER_HOST until the README sets it.
    result = engine.user.run(["sh", "-ec", script], env={**engine.env, "DOCKER_HOST": ""}, timeout=180)
    return result.stdout


def test_using_it_runs_as_written(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine
    engine.cli("pull", "-q", images.busybox)
    engine.cli("tag", images.busybox, "busybox")
    first, docker, context, _completion = _sh_blocks()
    assert any(line.startswith("rootless pull busybox") for line in first)
    # `pull` needs Docker Hub; `run -it` a terminal (tests/integration/containers/test_docker_cli.py has one).
    runnable = [line for line in first if not line.startswith("rootless pull") and " -it " not in line]
    out = _sh(engine, "\n".join(runnable))
    assert "hello\n" in out and "hello from a container" in out
    assert "export DOCKER_HOST=unix://$(rootless info --format '{{.Socket}}')" in docker
    assert _sh(engine, "\n".join(docker)).splitlines()[-2:] == ["hi", "b'hi\\n'"]
    out = _sh(engine, "\n".join(context) + "\ndocker ps -a --format '{{.Names}}'\ndocker context use default")
    assert "rootless" in out
    assert engine.cli("ps", "-a", "-q").stdout.strip() == ""  # --rm and rm -f left nothing
