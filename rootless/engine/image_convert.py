"""`rootless image convert` (issue 15): the user's images into the configured image_format.

A pull, load, import, build or commit stores its image in the configured
form; images stored before the switch changed stay as they were until
converted here, explicitly (a daemon start converting in the background
would spend a Slurm job's CPU and disk unasked, and an idle exit would cut it
short). `info` and `doctor` say how many are not yet in the configured form.

One image at a time, each change crash-safe, as a pull's conversion:

- to "squashfs": ImageService.keep_as_file (file written under a temporary
  name, fsynced and linked into place, then the layer dirs trashed);
- to "dirs": the layers unpacked from the blobs (each one renamed into place
  whole), then the file unlinked and its mount forgotten. Killed between the
  two, the next start (squash_store.settle with "dirs") removes the file.

An image containers use keeps what they stack: its layer dirs (to squashfs:
released at a later start once no container uses it) or its file (to dirs:
removed by a later convert once its containers are gone).
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Iterable, Iterator

from rootless.engine.images import ImageService, familiar
from rootless.errors import RootlessError
from rootless.images import layers, squash_store
from rootless.images.crashpoint import crash_point
from rootless.images.store import ImageRecord

logger = logging.getLogger(__name__)


def in_format(service: ImageService, record: ImageRecord) -> bool:
    """The image is kept as the configured image_format says (a file for "squashfs", none for "dirs")."""
    has_file = squash_store.has_file(service.store.paths.root, record.image_id)
    return has_file == (service.settings.image_format == "squashfs")


def not_in_format(service: ImageService) -> int:
    """How many of the user's images are not in the configured form (site images are not the user's)."""
    return sum(1 for record in service.store.list() if not in_format(service, record))


def convert_all(service: ImageService) -> Iterator[Dict[str, Any]]:
    """POST /images/convert: JSON lines, one per image converted; an error ends the stream in-band."""
    target = service.settings.image_format
    converted = 0
    for record in service.store.list():
        if in_format(service, record) or not service.store.exists(record.image_id):
            continue  # (removed meanwhile: nothing to convert)
        try:
            note = _to_file(service, record) if target == "squashfs" else _to_dirs(service, record)
        except RootlessError as exc:
            yield {"errorDetail": {"message": exc.message}, "error": exc.message}
            return
        converted += 1
        yield {"stream": f"{_name(record)}: {note}\n"}
    left = not_in_format(service)
    tail = f"; {left} not yet (see above)" if left else ""
    yield {"stream": f"{converted} image(s) converted to {target}{tail}\n"}


def _name(record: ImageRecord) -> str:
    return ", ".join(familiar(t) for t in record.repo_tags) or record.short_id


def _to_file(service: ImageService, record: ImageRecord) -> str:
    service.keep_as_file(record)
    path = squash_store.image_file(service.store.paths.root, record.image_id)
    if service.image_users(record.image_id):
        return f"kept as {path}; its layer dirs stay while containers use the image"
    return f"kept as {path}"


def _to_dirs(service: ImageService, record: ImageRecord) -> str:
    layers.ensure_unpacked(service.store, record)
    crash_point("sqfs:after-unpack")
    if service.image_users(record.image_id):
        return ("layers unpacked; its squashfs file stays while containers use the image "
                "(remove them and convert again)")
    root = service.store.paths.root
    if squash_store.remove_file(root, record.image_id):
        service.forget_file(squash_store.image_file(root, record.image_id))
    return "layers unpacked, squashfs file removed"


def settle(service: ImageService, in_use: Iterable[str]) -> None:
    """At start: a killed conversion (either way) or rmi ends in the configured form (squash_store.settle)."""
    for path in squash_store.settle(service.store, in_use, service.settings.image_format):
        service.forget_file(path)
