"""Issue 11: the build id follows the code's content, not its mtimes (a reinstall of the same commit)."""
from __future__ import annotations

import json
import os

from rootless.util.build import build_id


def _package(tmp_path):  # type: ignore[no-untyped-def]
    package = tmp_path / "pkg"
    (package / "sub" / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("VERSION = 1\n")
    (package / "sub" / "mod.py").write_text("def f() -> int:\n    return 1\n")
    (package / "sub" / "profile.json").write_text("{}\n")
    (package / "sub" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"junk")
    return package


def _reinstall(package) -> None:  # type: ignore[no-untyped-def]
    """What pip does to the same commit: the same bytes in new files with new mtimes and inodes."""
    for path in sorted(package.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            path.unlink()
            path.write_bytes(data)
            os.utime(path, (1_000_000_000, 1_000_000_000))


def test_reinstalling_the_same_code_keeps_the_id(tmp_path) -> None:
    package = _package(tmp_path)
    before = build_id(None, str(package))
    _reinstall(package)
    build_id.cache_clear()
    assert build_id(None, str(package)) == before
    assert build_id(str(tmp_path / "cache"), str(package)) == before


def test_changed_code_changes_the_id_also_through_the_cache(tmp_path) -> None:
    package = _package(tmp_path)
    cache = str(tmp_path / "cache")
    before = build_id(cache, str(package))
    (package / "sub" / "mod.py").write_text("def f() -> int:\n    return 2\n")
    build_id.cache_clear()
    assert build_id(cache, str(package)) != before
    (package / "sub" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"other junk")  # not code
    build_id.cache_clear()
    again = build_id(None, str(package))
    assert again == build_id(cache, str(package)) != before


def test_the_cache_is_used_while_nothing_changed(tmp_path) -> None:
    package = _package(tmp_path)
    cache = tmp_path / "cache"
    real = build_id(str(cache), str(package))
    (entry,) = cache.iterdir()
    record = json.loads(entry.read_text())
    assert record["id"] == real and oct(entry.stat().st_mode & 0o777) == "0o600"
    entry.write_text(json.dumps({**record, "id": "cachedvalue0"}))
    build_id.cache_clear()
    assert build_id(str(cache), str(package)) == "cachedvalue0"
