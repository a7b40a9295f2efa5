"""An id of the installed code, so the CLI can tell a daemon started before an upgrade."""
from __future__ import annotations

import functools
import hashlib
import os


@functools.lru_cache(maxsize=1)
def build_id() -> str:
    """Hash of the package's source files (names, sizes, mtimes): 12 hex digits."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(package):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".py", ".json")):
                path = os.path.join(dirpath, name)
                info = os.stat(path)
                digest.update(f"{os.path.relpath(path, package)}:{info.st_size}:{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:12]
