"""Docker's ?filters= parameter: {"k":["v"]} (docker-py) or {"k":{"v":true}} (Go CLI)."""
from __future__ import annotations

import json
from typing import Dict, List, Optional

from rootless.errors import InvalidArgument


def parse_filters(raw: Optional[str]) -> Dict[str, List[str]]:
    """Normalise both spellings to {key: [values]}."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"invalid filters: {raw!r}") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"invalid filters: {raw!r}")
    result: Dict[str, List[str]] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            result[key] = [k for k, enabled in value.items() if enabled]
        elif isinstance(value, list):
            result[key] = [str(v) for v in value]
        else:
            result[key] = [str(value)]
    return result
