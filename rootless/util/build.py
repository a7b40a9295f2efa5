"""An id of the installed code, so the CLI can tell a daemon started before an upgrade."""
from __future__ import annotations

import functools
import hashlib
import json
import os
from typing import List, Optional, Tuple

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _source_files(package: str) -> List[Tuple[str, os.stat_result]]:
    """(path relative to the package, stat) of every .py and .json file, in a stable order."""
    found = []
    for dirpath, dirnames, filenames in os.walk(package):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".py", ".json")):
                path = os.path.join(dirpath, name)
                found.append((os.path.relpath(path, package), os.stat(path)))
    return found


def content_id(package: str, files: List[Tuple[str, os.stat_result]]) -> str:
    """sha256 over names and contents: 12 hex digits."""
    digest = hashlib.sha256()
    for rel, _ in files:
        with open(os.path.join(package, rel), "rb") as f:
            data = f.read()
        digest.update(f"{rel}:{len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()[:12]


def _stat_key(package: str, files: List[Tuple[str, os.stat_result]]) -> str:
    digest = hashlib.sha256(package.encode())
    for rel, info in files:
        digest.update(f"{rel}:{info.st_size}:{info.st_mtime_ns}:{info.st_ino}\n".encode())
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def build_id(cache_dir: Optional[str] = None, package: str = PACKAGE) -> str:
    """The id of the code in package: a hash of its source files' contents (issue 11).

    By content, not mtimes: reinstalling the same commit (new mtimes) keeps the
    id, so the CLI's "daemon runs other code" warning fires only when the code
    differs. Reading ~1.5 MB of source costs the CLI ~10 ms, so with cache_dir
    the id is kept per install under a key of names, sizes, mtimes and inodes;
    any change to those only makes it read the files again.
    """
    files = _source_files(package)
    if cache_dir is None:
        return content_id(package, files)
    key = _stat_key(package, files)
    cache = os.path.join(cache_dir, f"build-id-{hashlib.sha256(package.encode()).hexdigest()[:16]}.json")
    try:
        with open(cache, encoding="utf-8") as f:
            cached = json.load(f)
        if isinstance(cached, dict) and cached.get("key") == key and isinstance(cached.get("id"), str):
            return str(cached["id"])
    except (OSError, ValueError):
        pass
    value = content_id(package, files)
    try:
        from rootless.util import fs

        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        fs.atomic_write_json(cache, {"key": key, "id": value}, 0o600)
    except OSError:
        pass  # a read-only home: the id is still right, only slower next time
    return value
