"""`k=v` flag lists (labels, driver options) as docker reads them (opts.ConvertKVStringsToMap)."""
from __future__ import annotations

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast_run.py)
if TYPE_CHECKING:
    from typing import Dict, List


def parse_labels(values: List[str]) -> Dict[str, str]:
    """`-l k=v` / `-l k` -> {"k": "v"} / {"k": ""}."""
    labels: Dict[str, str] = {}
    for value in values:
        key, _, text = value.partition("=")
        labels[key] = text
    return labels
