"""sha256 digests in the OCI "algorithm:hex" form."""
from __future__ import annotations

import hashlib
import re
from typing import BinaryIO

from rootless.errors import InvalidArgument

DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


def sha256_digest(data: bytes) -> str:
    """The OCI digest of a byte string."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_file(stream: BinaryIO) -> str:
    """The OCI digest of a stream, read to its end."""
    hasher = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def validate_digest(digest: str) -> str:
    """Return digest if it is a well-formed sha256 digest, else raise."""
    if not DIGEST_RE.match(digest):
        raise InvalidArgument(f"invalid digest: {digest!r}")
    return digest


def digest_hex(digest: str) -> str:
    """The hex part of a validated digest."""
    return validate_digest(digest).split(":", 1)[1]
