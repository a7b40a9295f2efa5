"""The composition root: one Engine owning every store and manager."""
from __future__ import annotations

from rootless.engine.engine import Engine

__all__ = ["Engine"]
