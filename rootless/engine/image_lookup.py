"""Finding an image the way docker's clients name it, and its unpacked layers."""
from __future__ import annotations

import re
from typing import List

from rootless.config import Settings
from rootless.errors import InvalidArgument, NotFound
from rootless.images import layers
from rootless.images.reference import parse_reference
from rootless.images.store import ImageRecord, ImageStore

_ID_RE = re.compile(r"^(sha256:)?[0-9a-f]{4,64}$")


class ImageLookup:
    """Resolve "busybox", "127.0.0.1:5000/x:1", "x@sha256:…", ids and id prefixes."""

    def __init__(self, store: ImageStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def lookup(self, name: str) -> ImageRecord:
        """The image record; NotFound("No such image: <name as docker prints it>")."""
        if _ID_RE.match(name):
            try:
                return self.store.get(name)
            except NotFound:
                pass
        try:
            ref = parse_reference(name, self.settings.default_registry)
        except InvalidArgument:
            raise NotFound(f"No such image: {name}") from None
        try:
            return self.store.get(str(ref))
        except NotFound:
            raise NotFound(f"No such image: {ref.familiar()}") from None

    def layer_dirs(self, record: ImageRecord) -> List[str]:
        """The image's layer diff dirs, lowest first, unpacked if needed."""
        return layers.ensure_unpacked(self.store, record)
