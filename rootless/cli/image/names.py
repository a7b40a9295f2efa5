"""The bits of docker's name normalisation the CLI prints (distribution/reference normalize.go)."""
from __future__ import annotations

from typing import Tuple


def split_tag(image: str) -> Tuple[str, str]:
    """("repo", "tag" or "sha256:..." or "") from an image argument."""
    if "@" in image:
        repository, digest = image.rsplit("@", 1)
        return repository, digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1:]
    return image, ""


def full_name(repository: str) -> str:
    """docker.io/library/busybox for busybox; names with a registry stay as they are."""
    first, slash, _ = repository.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return repository
    if not slash:
        repository = "library/" + repository
    return "docker.io/" + repository
