from __future__ import annotations

import io

import pytest

from rootless.cli.image.names import full_name, split_tag
from rootless.cli.image.progress import show_progress
from rootless.errors import RootlessError

PULL = [
    {"status": "Pulling from app", "id": "1"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "aaa"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "bbb"},
    {"status": "Downloading", "progressDetail": {"current": 5, "total": 10}, "progress": "[==>  ] 5B/10B", "id": "aaa"},
    {"status": "Download complete", "progressDetail": {}, "id": "aaa"},
    {"status": "Digest: sha256:x"},
    {"progressDetail": {}, "aux": {"Tag": "1"}},
]


def test_plain_progress_skips_byte_counters() -> None:
    out = io.StringIO()
    aux = show_progress(PULL, out, tty=False)
    assert out.getvalue().splitlines() == [
        "1: Pulling from app", "aaa: Pulling fs layer", "bbb: Pulling fs layer", "aaa: Download complete",
        "Digest: sha256:x"]
    assert aux == [{"Tag": "1"}]


def test_tty_progress_rewrites_layer_lines() -> None:
    out = io.StringIO()
    show_progress(PULL, out, tty=True, columns=80)
    text = out.getvalue()
    # aaa is two lines above the cursor when bbb has been printed after it.
    bar = "[" + "=" * 23 + ">" + " " * 23 + "]       5B/10B"
    assert f"\x1b[2A\x1b[2K\raaa: Downloading {bar}\n\x1b[1B" in text
    assert text.endswith("Digest: sha256:x\n")


def test_quiet_progress_still_raises_in_band_errors() -> None:
    out = io.StringIO()
    with pytest.raises(RootlessError, match="boom"):
        show_progress([{"errorDetail": {"message": "boom"}, "error": "boom"}], out, tty=False, quiet=True)
    assert out.getvalue() == ""


def test_names() -> None:
    assert split_tag("127.0.0.1:5000/app") == ("127.0.0.1:5000/app", "")
    assert split_tag("app:1") == ("app", "1")
    assert split_tag("app@sha256:ff") == ("app", "sha256:ff")
    assert full_name("busybox") == "docker.io/library/busybox"
    assert full_name("user/app") == "docker.io/user/app"
    assert full_name("localhost/app") == "localhost/app"
