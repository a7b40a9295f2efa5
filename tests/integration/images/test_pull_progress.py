"""Pull progress as a person sees it: docker's per-layer lines rewritten in place on a
terminal, plain status lines without byte counters otherwise, only the name with -q."""
from __future__ import annotations

import re

from tests.integration.conftest import DOCKER, VENV_PYTHON
from tests.integration.containers.ptyrun import PtySession

ANSI = re.compile(rb"\x1b\[[0-9]*[A-Za-z]")


def pull_on_a_tty(engine, *argv: str) -> bytes:  # type: ignore[no-untyped-def]
    session = PtySession(list(argv), engine.user.env(engine.env), engine.user._demote, engine.user.home)
    assert session.wait(timeout=120) == 0, session.output
    return session.output


def test_pull_on_a_terminal_rewrites_layer_lines(fresh_engine, images) -> None:  # type: ignore[no-untyped-def]
    fresh_engine.cli("info")
    out = pull_on_a_tty(fresh_engine, VENV_PYTHON, "-m", "rootless.cli", "pull", images.layered)
    assert b"\x1b[2K" in out and re.search(rb"\x1b\[\d+A", out)  # up to the layer's line, cleared
    assert re.search(rb": Downloading \[=+>\s*\]\s+\S+B/\S+B", out)  # docker's bar with bytes
    plain = ANSI.sub(b"", out).decode()
    for layer_id in {m for m in re.findall(r"([0-9a-f]{12}): Pull complete", plain)}:
        assert f"{layer_id}: Pulling fs layer" in plain
    assert len(set(re.findall(r"([0-9a-f]{12}): Pull complete", plain))) == 3
    assert plain.rstrip().endswith(images.layered)


def test_docker_pull_on_a_terminal(fresh_engine, images) -> None:  # type: ignore[no-untyped-def]
    """docker's own renderer reads our stream the same way."""
    fresh_engine.cli("info")
    out = pull_on_a_tty(fresh_engine, DOCKER, "pull", images.layered)
    plain = ANSI.sub(b"", out).decode()
    assert len(set(re.findall(r"([0-9a-f]{12}): Pull complete", plain))) == 3
    assert f"Status: Downloaded newer image for {images.layered}" in plain


def test_pull_without_a_terminal_is_plain_lines(fresh_engine, images) -> None:  # type: ignore[no-untyped-def]
    fresh_engine.cli("info")
    out = fresh_engine.cli("pull", images.layered).stdout
    assert "\x1b" not in out and "Downloading" not in out  # byte counters only make sense in place
    lines = out.splitlines()
    assert lines[0] == "latest: Pulling from layered"
    assert sum(1 for line in lines if line.endswith(": Pull complete")) == 3
    assert lines[-3:-1] == [lines[-3], f"Status: Downloaded newer image for {images.layered}"]
    assert lines[-3].startswith("Digest: sha256:") and lines[-1] == images.layered
    assert fresh_engine.cli("pull", "-q", images.layered).stdout == images.layered + "\n"
    quiet_fresh = fresh_engine.cli("pull", "-q", images.busybox_oci)
    assert quiet_fresh.stdout == images.busybox_oci + "\n" and quiet_fresh.stderr == ""
