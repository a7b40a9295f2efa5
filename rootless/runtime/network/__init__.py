"""Per-container network plumbing (slirp4netns or pasta), not network objects."""
from __future__ import annotations

import os

from rootless.util import proc

SLIRP4NETNS, PASTA, NONE = "slirp4netns", "pasta", "none"


def tun_usable() -> bool:
    return os.access("/dev/net/tun", os.R_OK | os.W_OK)


def select_backend(preferred: str) -> str:
    """The configured backend, or slirp4netns when present (then pasta)."""
    if preferred != "auto":
        return preferred
    for name in (SLIRP4NETNS, PASTA):
        if proc.which(name):
            return name
    return NONE
