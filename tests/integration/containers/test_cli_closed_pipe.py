"""Our CLI's stdout closed by its reader (`rootless run ... | head -c 5`, `rootless ps | head -1`):
exit 1 (or the command's status), silently, never the interpreter's "Exception ignored ...
BrokenPipeError" and exit status 120 (cli/__init__.py exit_now)."""
from __future__ import annotations

import shlex
from typing import List, Tuple

from tests.integration.conftest import VENV_PYTHON, Engine

ROUNDS = 6


def _piped(engine: Engine, args: List[str], reader: str) -> Tuple[int, str]:
    """Our CLI's exit status and stderr, its stdout read by `reader` (a shell command)."""
    cli = " ".join(shlex.quote(word) for word in [VENV_PYTHON, "-m", "rootless.cli", *args])
    script = f"{cli} 2>/tmp/.cli-err-$$ | {reader} >/dev/null; s=${{PIPESTATUS[0]}}; cat /tmp/.cli-err-$$; rm -f /tmp/.cli-err-$$; exit $s"
    result = engine.user.run(["bash", "-c", script], check=False, env=engine.env, timeout=120)
    return result.returncode, result.stdout + result.stderr


def test_run_output_into_a_closed_pipe_exits_quietly(engine: Engine, busybox: str) -> None:
    for command, reader in ((["echo", "hello"], "true"), (["sh", "-c", "yes | head -n 200000"], "head -c 5")):
        for _ in range(ROUNDS):
            status, errors = _piped(engine, ["run", "--rm", busybox, *command], reader)
            assert status in (0, 1) and "Exception" not in errors and "Traceback" not in errors, (status, errors)


def test_ps_into_a_closed_pipe_exits_quietly(engine: Engine, busybox: str) -> None:
    names = [f"pipe-ps-{i}" for i in range(30)]
    for name in names:
        engine.cli("create", "--name", name, busybox, "true")
    try:
        for _ in range(ROUNDS):
            status, errors = _piped(engine, ["ps", "-a"], "true")
            assert status in (0, 1) and "Exception" not in errors and "Traceback" not in errors, (status, errors)
    finally:
        engine.cli("rm", "-f", *names, check=False)


def test_a_click_verb_into_a_closed_pipe_exits_quietly(engine: Engine, busybox: str) -> None:
    for _ in range(ROUNDS):  # `image inspect` goes through click
        status, errors = _piped(engine, ["image", "inspect", busybox], "true")
        assert status in (0, 1) and "Exception" not in errors and "Traceback" not in errors, (status, errors)
