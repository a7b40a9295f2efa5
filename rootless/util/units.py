"""Sizes as docker prints them (docker/go-units), shared by the engine's progress and the CLI."""
from __future__ import annotations

_SIZE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def human_size(size: float) -> str:
    """go-units HumanSize (decimal units, 4 significant digits): 1234567 -> '1.235MB', 0 -> '0B'."""
    unit = 0
    while size >= 1000 and unit < len(_SIZE_UNITS) - 1:
        size /= 1000.0
        unit += 1
    return f"{size:.4g}{_SIZE_UNITS[unit]}"
