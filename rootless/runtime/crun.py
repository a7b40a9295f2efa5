"""A thin wrapper around the crun binary: argv building and version, no state logic."""
from __future__ import annotations

import functools
from typing import List, Optional

from rootless.errors import ToolError
from rootless.util import proc


@functools.lru_cache(maxsize=4)
def runtime_version(binary: str = "crun") -> str:
    """First line of `crun --version`, e.g. "crun version 1.8.1"."""
    try:
        return proc.run([binary, "--version"], tool=binary, timeout=10).text.splitlines()[0]
    except ToolError as exc:
        return f"unavailable ({exc.message})"


def base_argv(binary: str, state_root: str, cgroup_manager: str) -> List[str]:
    """The global options every crun call gets."""
    return [binary, f"--cgroup-manager={cgroup_manager}", "--root", state_root]


def runtime_path(binary: str) -> Optional[str]:
    return proc.which(binary)
