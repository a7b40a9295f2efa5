"""rootless: a Docker-compatible container engine for unprivileged users."""
from __future__ import annotations

__version__ = "0.1.0"
