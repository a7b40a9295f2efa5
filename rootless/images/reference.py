"""Image references: docker's grammar and its normalisation rules.

The grammar is distribution's reference package
(https://github.com/distribution/reference/blob/main/reference.go):

    reference := name [ ":" tag ] [ "@" digest ]
    name      := [domain '/'] remote-name
    domain    := host [':' port-number]
    tag       := /[\\w][\\w.-]{0,127}/

Normalisation follows ``normalize.go``: a name whose first component holds
no '.' or ':' and is not "localhost" lives on Docker Hub, and a one-component
Docker Hub name lives under "library/".
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Optional, Tuple

from rootless.errors import InvalidArgument

DOCKER_HUB = "docker.io"
DEFAULT_TAG = "latest"
# Names docker accepts for Docker Hub and rewrites to DOCKER_HUB.
_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io")
_OFFICIAL_PREFIX = "library/"
_NAME_TOTAL_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})"

DOMAIN_RE = re.compile(rf"^{_HOST}(?::[0-9]+)?$")
REPOSITORY_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
# Digest lengths by algorithm (OCI image-spec descriptor.md, "Registered algorithms").
_DIGEST_HEX_LEN = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-f0-9]+)$")
_ANY_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")


@dataclass(frozen=True)
class Reference:
    """A normalised image reference; tag and digest may both be set."""

    registry: str
    repository: str
    tag: Optional[str] = None
    digest: Optional[str] = None

    @property
    def name(self) -> str:
        """registry/repository, e.g. docker.io/library/busybox."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar_name(self) -> str:
        """The name as docker prints it: busybox, user/app, 127.0.0.1:5000/app."""
        if self.registry != DOCKER_HUB:
            return self.name
        repository = self.repository
        rest = repository[len(_OFFICIAL_PREFIX):]
        if repository.startswith(_OFFICIAL_PREFIX) and "/" not in rest:
            return rest
        return repository

    def _suffix(self) -> str:
        text = f":{self.tag}" if self.tag else ""
        return f"{text}@{self.digest}" if self.digest else text

    def __str__(self) -> str:
        return self.name + self._suffix()

    def familiar(self) -> str:
        """docker's short form: busybox:latest, 127.0.0.1:5000/busybox:1."""
        return self.familiar_name + self._suffix()

    @property
    def reference(self) -> str:
        """What goes in a /v2/<name>/manifests/<reference> URL: digest, else tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_tag(self, tag: str) -> "Reference":
        """The same name with this tag and no digest."""
        return replace(self, tag=validate_tag(tag), digest=None)

    def with_digest(self, digest: str) -> "Reference":
        """The same name pinned to this digest (the tag is dropped)."""
        return replace(self, tag=None, digest=validate_reference_digest(digest))

    def is_tagged(self) -> bool:
        return self.tag is not None

    def is_digested(self) -> bool:
        return self.digest is not None


def _invalid(text: str, reason: str = "") -> InvalidArgument:
    message = f"invalid reference format: {text}"
    return InvalidArgument(f"{message}: {reason}" if reason else message)


def validate_tag(tag: str) -> str:
    """Return tag if it matches docker's tag grammar, else raise."""
    if not TAG_RE.match(tag):
        raise _invalid(tag, "invalid tag")
    return tag


def validate_reference_digest(digest: str) -> str:
    """Return digest if it is "algorithm:hex" with the algorithm's length."""
    match = _DIGEST_RE.match(digest)
    if not match:
        raise _invalid(digest, "invalid digest")
    expected = _DIGEST_HEX_LEN.get(match.group(1))
    if expected is None:
        raise _invalid(digest, f"unsupported digest algorithm {match.group(1)!r}")
    if len(match.group(2)) != expected:
        raise _invalid(digest, "invalid digest length")
    return digest


def _split_digest(text: str) -> Tuple[str, Optional[str]]:
    if "@" not in text:
        return text, None
    rest, digest = text.rsplit("@", 1)
    return rest, validate_reference_digest(digest)


def _split_tag(text: str) -> Tuple[str, Optional[str]]:
    # A ':' after the last '/' starts a tag; one before it is a registry port.
    colon = text.rfind(":")
    if colon == -1 or "/" in text[colon:]:
        return text, None
    return text[:colon], validate_tag(text[colon + 1:])


def _split_domain(name: str, default_registry: str) -> Tuple[str, str]:
    first, slash, rest = name.partition("/")
    is_domain = slash and (any(c in first for c in ".:") or first == "localhost"
                           or first.lower() != first)
    if not is_domain:
        registry, repository = default_registry, name
    else:
        registry, repository = first, rest
    if registry in _HUB_ALIASES:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = _OFFICIAL_PREFIX + repository
    return registry, repository


def _check_name(text: str, registry: str, repository: str) -> None:
    if not DOMAIN_RE.match(registry):
        raise _invalid(text, f"invalid registry {registry!r}")
    if repository.lower() != repository:
        raise _invalid(text, f"repository name ({repository}) must be lowercase")
    if not REPOSITORY_RE.match(repository):
        raise _invalid(text, "invalid repository name")
    if len(registry) + 1 + len(repository) > _NAME_TOTAL_MAX:
        raise _invalid(text, f"repository name must not be more than {_NAME_TOTAL_MAX} characters")


def parse_reference(
    text: str, default_registry: str = DOCKER_HUB, default_tag: Optional[str] = DEFAULT_TAG
) -> Reference:
    """Parse and normalise a reference; a bare name gets default_tag.

    "busybox" -> docker.io/library/busybox:latest. A reference with a digest
    and no tag keeps tag None. Raises InvalidArgument on malformed input.
    """
    if not text or text != text.strip():
        raise _invalid(text)
    rest, digest = _split_digest(text)
    name, tag = _split_tag(rest)
    if not name:
        raise _invalid(text)
    if _ANY_HEX64_RE.match(name):
        # docker refuses these as names so that they never shadow image IDs.
        raise _invalid(text, "cannot specify 64-byte hexadecimal strings")
    registry, repository = _split_domain(name, default_registry)
    _check_name(text, registry, repository)
    if tag is None and digest is None:
        tag = default_tag
    return Reference(registry, repository, tag, digest)


def parse_name(text: str, default_registry: str = DOCKER_HUB) -> Reference:
    """Parse a reference that may carry neither tag nor digest (for docker tag's repo part)."""
    ref = parse_reference(text, default_registry, default_tag=None)
    if ref.tag or ref.digest:
        raise _invalid(text, "expected a repository name without tag or digest")
    return ref


def is_reference(text: str) -> bool:
    """Whether text parses as a reference (lookups use this to tell names from IDs)."""
    try:
        parse_reference(text)
    except InvalidArgument:
        return False
    return True
