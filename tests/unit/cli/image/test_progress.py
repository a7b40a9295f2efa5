"""Pull progress on a narrow terminal and without one (issue 11)."""
from __future__ import annotations

import io
import re

from rootless.cli.image.progress import fit_bar, show_progress

LAYER = "0123456789ab"


def pull_messages(total: int = 4_300_000):
    yield {"status": "Pulling from library/a-rather-long-repository-name/with-a-path", "id": "latest"}
    yield {"status": "Pulling fs layer", "progressDetail": {}, "id": LAYER}
    for current in (0, 1_000_000, 2_150_000, total):
        yield {"status": "Downloading", "progressDetail": {"current": current, "total": total}, "id": LAYER,
               "progress": "[" + "=" * 50 + ">] server-rendered, 70 columns wide on its own"}
    yield {"status": "Pull complete", "progressDetail": {}, "id": LAYER}
    yield {"status": "Digest: sha256:" + "f" * 64}
    yield {"status": "Status: Downloaded newer image for busybox:latest"}


def rows(output: str):
    """What the terminal shows, row by row: ANSI cursor moves and line clears removed."""
    return [line for line in re.split(r"\x1b\[\d*[AB]|\x1b\[2K|\r|\n", output) if line]


def test_no_line_reaches_the_last_column_at_80() -> None:
    out = io.StringIO()
    show_progress(pull_messages(), out, tty=True, columns=80)
    shown = rows(out.getvalue())
    assert max(len(line) for line in shown) <= 79
    bars = [line for line in shown if line.startswith(f"{LAYER}: Downloading [")]
    assert bars and all("4.3MB" in line and "server-rendered" not in line for line in bars)
    inner = bars[2].split("[", 1)[1].split("]", 1)[0]
    assert 10 <= len(inner) - 1 < 50 and inner.index(">") == (len(inner) - 1) // 2  # half of a shrunk bar


def test_the_bar_is_mobys_50_wide_on_a_wide_terminal() -> None:
    assert fit_bar(2_150_000, 4_300_000, 200) == "[" + "=" * 25 + ">" + " " * 25 + "]   2.15MB/4.3MB"


def test_a_very_narrow_terminal_gets_numbers_only() -> None:
    assert fit_bar(1_000_000, 4_300_000, 20) == "1MB/4.3MB"
    out = io.StringIO()
    show_progress(pull_messages(), out, tty=True, columns=30)
    assert max(len(line) for line in rows(out.getvalue())) <= 29


def test_not_a_terminal_prints_plain_status_lines_without_byte_counts() -> None:
    out = io.StringIO()
    show_progress(pull_messages(), out, tty=False)
    assert "\x1b" not in out.getvalue() and "Downloading" not in out.getvalue()
    assert out.getvalue().splitlines()[1:3] == [f"{LAYER}: Pulling fs layer", f"{LAYER}: Pull complete"]
