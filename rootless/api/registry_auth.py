"""The registry credentials a request carries, decoded at the API edge.

X-Registry-Auth is base64url(JSON AuthConfig) (moby api/types/registry:
DecodeAuthConfig), padded or not; "" and "e30=" ({}) mean "none given": the
engine then uses the user's docker config. The engine gets registry
Credentials, never the header.
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Optional

from rootless.api import types
from rootless.api.decode import decode
from rootless.api.http import Request
from rootless.errors import InvalidArgument
from rootless.registry.auth import Credentials

HEADER = "X-Registry-Auth"


def decode_registry_auth(header: Optional[str]) -> Optional[types.AuthConfig]:
    """The header's AuthConfig; None when absent or empty. A bad one is InvalidArgument (400)."""
    if not header:
        return None
    try:
        raw = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
        data = json.loads(raw)
    except (ValueError, binascii.Error) as exc:
        raise InvalidArgument(f"invalid {HEADER} header: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidArgument(f"invalid {HEADER} header: not a JSON object")
    return decode(types.AuthConfig, data, HEADER)


def credentials(auth: Optional[types.AuthConfig], what: str = HEADER) -> Optional[Credentials]:
    """What an AuthConfig authenticates with; None when it carries nothing to authenticate with.

    `auth` is base64("user:password"), docker's config.json form; it counts only without a username.
    """
    if auth is None:
        return None
    username, password = auth.username, auth.password
    if auth.auth and not username:
        try:
            decoded = base64.b64decode(auth.auth).decode("utf-8", "replace")
        except (ValueError, binascii.Error) as exc:
            raise InvalidArgument(f"invalid {what}: auth: {exc}") from exc
        username, _, password = decoded.partition(":")
    creds = Credentials(username, password, auth.identitytoken)
    return creds if creds.has_password() or creds.identity_token else None


def request_credentials(request: Request) -> Optional[Credentials]:
    """The credentials of a pull or push request's X-Registry-Auth header."""
    return credentials(decode_registry_auth(request.headers.get(HEADER)))
