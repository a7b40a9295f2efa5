"""Error kinds to HTTP status and the {"message": ...} body docker clients parse."""
from __future__ import annotations

import json
from typing import Dict

from rootless.errors import RootlessError


def error_status(exc: RootlessError) -> int:
    return exc.http_status


def error_body(exc: RootlessError) -> Dict[str, str]:
    """Docker puts the whole text in "message"; our hint rides on a second line."""
    message = exc.message
    if exc.hint:
        message = f"{message}\nhint: {exc.hint}"
    return {"message": message}


def error_json(message: str) -> bytes:
    """The body of every error response, the server's own included (never HTML)."""
    return json.dumps({"message": message}).encode() + b"\n"
