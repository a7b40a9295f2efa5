"""Where things live and how the user configured them."""
from __future__ import annotations

from rootless.config.paths import STORE_VERSION, Paths
from rootless.config.settings import Settings, load_settings

__all__ = ["Paths", "STORE_VERSION", "Settings", "load_settings"]
