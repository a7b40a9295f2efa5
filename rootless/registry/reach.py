"""One line for a registry that cannot be reached, instead of urllib3's nested repr (issue 11).

requests reports an offline machine as `HTTPSConnectionPool(host=...): Max retries
exceeded ... (Caused by NameResolutionError(...))`. What the user needs is the host,
the reason in a few words and what to try, as docker says `dial tcp: lookup
registry-1.docker.io: no such host`.
"""
from __future__ import annotations

import errno
import socket
from typing import Optional
from urllib.parse import urlsplit

from rootless.errors import Unavailable

# Docker Hub's hosts: a short name (`busybox`) reaches them without the user naming them.
HUB_HOSTS = ("registry-1.docker.io", "auth.docker.io", "index.docker.io", "docker.io")
_BY_ERRNO = {errno.ECONNREFUSED: "connection refused", errno.ENETUNREACH: "network unreachable",
             errno.EHOSTUNREACH: "no route to host", errno.ETIMEDOUT: "timed out",
             errno.ECONNRESET: "connection reset"}
_BY_TEXT = (("Failed to resolve", "name resolution failed"), ("Name or service not known", "name resolution failed"),
            ("Temporary failure in name resolution", "name resolution failed"),
            ("Connection refused", "connection refused"), ("Network is unreachable", "network unreachable"),
            ("No route to host", "no route to host"), ("timed out", "timed out"))
_OFFLINE = ("name resolution failed", "network unreachable", "no route to host")


def connect_reason(exc: BaseException) -> Optional[str]:
    """"name resolution failed", "connection refused", ... from anywhere in exc's cause chain;
    None when it is not a failure to connect (a broken stream, a TLS error)."""
    seen = 0
    inner: Optional[BaseException] = exc
    while inner is not None and seen < 10:
        if isinstance(inner, socket.gaierror):
            return "name resolution failed"
        if isinstance(inner, OSError) and inner.errno in _BY_ERRNO:
            return _BY_ERRNO[inner.errno]
        nested = [a for a in inner.args if isinstance(a, BaseException)]
        inner = inner.__cause__ or inner.__context__ or (nested[0] if nested else None)
        seen += 1
    text = str(exc)
    return next((reason for needle, reason in _BY_TEXT if needle in text), None)


def unreachable_message(host: str, reason: str) -> str:
    """The one line: host, reason, and what to do about it."""
    if reason in _OFFLINE and host in HUB_HOSTS:
        advice = "is the machine offline? use a full reference to a reachable registry"
    elif reason in _OFFLINE:
        advice = "is the machine offline, or the registry's name misspelt?"
    elif reason == "connection refused":
        advice = "is the registry running, on that port?"
    else:
        advice = "is the machine offline, or a proxy needed?"
    return f"can't reach {host} ({reason}): {advice}"


def unreachable(url: str, exc: BaseException, fallback: str) -> Unavailable:
    """Unavailable with the one line when exc is a failure to connect, else fallback + exc's text."""
    reason = connect_reason(exc)
    host = urlsplit(url).netloc.rpartition("@")[2] or url
    if reason is None:
        return Unavailable(f"{fallback}: {exc}")
    return Unavailable(unreachable_message(host, reason))
