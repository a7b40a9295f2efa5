"""Network plumbing, not network objects.

slirp.py / pasta.py: one uplink per container (the default network today).
host.py (the NetworkHost interface) and rootless_netns.py: user networks in
one shared namespace per engine, with plumbing.py (ip/nft text),
names.py (the DNS table and answers) and dns_server.py (the responder).
"""
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
