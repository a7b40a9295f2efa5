"""`mypy --strict` (the [tool.mypy] settings of pyproject.toml) passes on the whole package."""
from __future__ import annotations

from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api", reason="mypy is not installed (pip install -e .[test])")

REPO = Path(__file__).resolve().parents[2]


def test_package_type_checks_strict() -> None:
    # In-process (mypy.api) with the repo's cache: ~1 s warm, ~5 s cold here.
    stdout, stderr, status = api.run([
        "--config-file", str(REPO / "pyproject.toml"),
        "--cache-dir", str(REPO / ".mypy_cache"),
        "--no-error-summary",
        str(REPO / "rootless"),
    ])
    assert status == 0 and not stdout and not stderr, stdout + stderr
