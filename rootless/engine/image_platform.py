"""run/create --platform against the image the store holds (moby daemon/images GetImage).

docker refuses an image whose config names another platform than the one
asked for, as "not found" (404): the docker CLI then pulls that platform and
tries once more. Without --platform any image runs, as in docker.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from rootless.engine.image_pull import parse_platform
from rootless.errors import NotFound
from rootless.images.types import normalize_platform


def check_platform(ref: str, image_config: Dict[str, Any], wanted_text: Optional[str]) -> None:
    """Raise NotFound in docker's words when the image is not for the wanted platform."""
    if not wanted_text:
        return
    wanted = parse_platform(wanted_text)
    os_name = str(image_config.get("os") or "linux")
    arch = str(image_config.get("architecture") or "")
    variant = image_config.get("variant") or None
    have = normalize_platform(os_name, arch, variant)
    want = normalize_platform(wanted.os, wanted.architecture, wanted.variant)
    if have[:2] == want[:2] and (wanted.variant is None or have[2] == want[2]):
        return
    actual = "/".join([os_name, arch] + ([str(variant)] if variant else []))
    raise NotFound(f"image with reference {ref} was found but does not match the specified platform: "
                   f"wanted {wanted_text.strip().lower()}, actual: {actual}")
