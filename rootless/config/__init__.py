"""Where things live and how the user configured them."""
from __future__ import annotations

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Any

from rootless.config.paths import STORE_VERSION, Paths

# settings.py is loaded on first use: importing it costs ~1.5 ms (two dataclasses, regexes)
# and most CLI commands need only Paths (bench/README.md "CLI start-up").
if TYPE_CHECKING:
    from rootless.config.settings import Settings, load_settings

__all__ = ["Paths", "STORE_VERSION", "Settings", "load_settings"]


def __getattr__(name: str) -> Any:
    if name in ("Settings", "load_settings"):
        from rootless.config import settings

        return getattr(settings, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
