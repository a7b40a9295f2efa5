"""Pull progress on a narrow terminal (issue 11): bars shrink, no row wraps, so the cursor
moves that rewrite a layer's line land on that line."""
from __future__ import annotations

import re

import pytest

from tests.integration.conftest import VENV_PYTHON
from tests.integration.containers.ptyrun import PtySession

ROW_BREAKS = re.compile(rb"\x1b\[\d*[AB]|\x1b\[2K|\r|\n")


@pytest.mark.parametrize("cols", [80, 60])
def test_no_progress_row_wraps(fresh_engine, images, cols: int) -> None:  # type: ignore[no-untyped-def]
    fresh_engine.cli("info")
    argv = [VENV_PYTHON, "-m", "rootless.cli", "pull", images.layered]
    session = PtySession(argv, fresh_engine.user.env(fresh_engine.env), fresh_engine.user._demote,
                         fresh_engine.user.home, cols=cols)
    assert session.wait(timeout=120) == 0, session.output
    rows = [row.decode() for row in ROW_BREAKS.split(session.output) if row]
    assert max(len(row) for row in rows) < cols, [row for row in rows if len(row) >= cols]
    bars = [row for row in rows if ": Downloading [" in row]
    assert bars, rows  # a shrunk bar, not none
    assert all(len(row.split("[", 1)[1].split("]", 1)[0]) < 50 for row in bars)
