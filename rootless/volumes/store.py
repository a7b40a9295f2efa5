"""Named volumes: a record and a data dir per volume, like docker's local driver.

Layout: <paths.volumes>/<name>/volume.json (written atomically) and
<name>/_data (what containers mount). Whether a volume is in use is the
engine's knowledge (containers, also stopped ones, hold it): it passes a
predicate to list/prune and the users' ids to remove, as podman's
runtime_volume.go asks its container store.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from rootless.config.paths import Paths
from rootless.errors import Conflict, InvalidArgument, NotFound
from rootless.util import filters as f
from rootless.util import fs

logger = logging.getLogger(__name__)

LOCAL = "local"
RECORD = "volume.json"
DATA = "_data"
# docker volume/local: validNamePattern; at least two characters.
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
# docker marks volumes it named itself (image VOLUME, -v /path) with this label.
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
LIST_FILTERS = ("name", "label", "label!", "dangling", "driver")
PRUNE_FILTERS = ("label", "label!", "all")

InUse = Callable[[str], bool]


@dataclass
class Volume:
    """One named volume, with docker's field names in to_json()."""

    name: str
    mountpoint: str
    created_at: str
    driver: str = LOCAL
    labels: Dict[str, str] = field(default_factory=dict)
    options: Dict[str, str] = field(default_factory=dict)

    @property
    def anonymous(self) -> bool:
        """Made for a container (image VOLUME, -v /path): prune takes it without all=true."""
        return ANONYMOUS_LABEL in self.labels

    def to_json(self) -> Dict[str, Any]:
        return {
            "Name": self.name,
            "Driver": self.driver,
            "Mountpoint": self.mountpoint,
            "CreatedAt": self.created_at,
            "Labels": dict(self.labels),
            "Scope": "local",
            "Options": dict(self.options),
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> "Volume":
        return cls(
            name=data["Name"], mountpoint=data["Mountpoint"], created_at=data["CreatedAt"],
            driver=data.get("Driver", LOCAL), labels=f.copy_labels(data.get("Labels") or {}),
            options=f.copy_labels(data.get("Options") or {}),
        )


def validate_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise InvalidArgument(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed',
            hint="if you meant a host directory, give an absolute path",
        )


class VolumeStore:
    """create / get / list / remove / prune of named volumes."""

    def __init__(self, paths: Paths) -> None:
        self.root = paths.volumes
        self.lock_path = os.path.join(self.root, ".lock")

    def _dir(self, name: str) -> str:
        return os.path.join(self.root, name)

    def _locked(self) -> "contextlib.AbstractContextManager[None]":
        fs.ensure_dir(self.root)
        return fs.locked(self.lock_path)

    def create(
        self,
        name: Optional[str] = None,
        driver: str = LOCAL,
        labels: Optional[Mapping[str, str]] = None,
        options: Optional[Mapping[str, str]] = None,
        anonymous: bool = False,
    ) -> Volume:
        """Make a volume (a 64-hex name when none is given); an existing name is returned as is."""
        name = name or secrets.token_hex(32)
        labels = {**(labels or {}), **({ANONYMOUS_LABEL: ""} if anonymous else {})}
        validate_name(name)
        if (driver or LOCAL) != LOCAL:
            raise InvalidArgument(f"create {name}: volume driver {driver} is not supported",
                                  hint="only the local driver is available")
        with self._locked():
            existing = self._read(name)
            if existing is not None:
                return existing
            volume = Volume(name, os.path.join(self._dir(name), DATA), f.utc_now_rfc3339(),
                            labels=f.copy_labels(labels), options=f.copy_labels(options or {}))
            fs.ensure_dir(volume.mountpoint, 0o755)
            fs.atomic_write_json(os.path.join(self._dir(name), RECORD), volume.to_json())
        logger.info("created volume %s", name)
        return volume

    def _read(self, name: str) -> Optional[Volume]:
        if not NAME_RE.match(name):
            return None
        data = fs.read_json(os.path.join(self._dir(name), RECORD))
        return None if data is None else Volume.from_record(data)

    def get(self, name: str) -> Volume:
        """The volume called name; NotFound otherwise."""
        volume = self._read(name)
        if volume is None:
            raise NotFound(f"get {name}: no such volume")
        return volume

    def exists(self, name: str) -> bool:
        return self._read(name) is not None

    def all(self) -> List[Volume]:
        """Every volume, sorted by name."""
        if not os.path.isdir(self.root):
            return []
        found = (self._read(name) for name in sorted(os.listdir(self.root)))
        return [v for v in found if v is not None]

    def list(self, filters: Optional[Mapping[str, List[str]]] = None,
             in_use: Optional[InUse] = None) -> List[Volume]:
        """Volumes matching docker's filters: name (substring), label, dangling, driver."""
        filters = filters or {}
        f.check_filter_keys(filters, LIST_FILTERS)
        dangling = f.parse_bool_filter("dangling", filters["dangling"]) if "dangling" in filters else None
        used = in_use or (lambda _name: False)
        return [v for v in self.all()
                if _matches(v, filters) and (dangling is None or dangling != used(v.name))]

    def remove(self, name: str, force: bool = False, in_use_by: Sequence[str] = ()) -> None:
        """Delete a volume and its data; refuse while containers use it (even with force)."""
        with self._locked():
            if self._read(name) is None:
                if force:
                    return
                raise NotFound(f"get {name}: no such volume")
            if in_use_by:
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(in_use_by)}]",
                               hint="remove the containers that use it first")
            self._delete(name)
        logger.info("removed volume %s", name)

    def _delete(self, name: str) -> None:
        """Rename out of sight first, so a crash never leaves half a volume visible."""
        doomed = os.path.join(self.root, f".deleting-{name}-{secrets.token_hex(4)}")
        os.rename(self._dir(name), doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    def prune(self, in_use: InUse, filters: Optional[Mapping[str, List[str]]] = None
              ) -> Tuple[List[str], int]:
        """Remove unused volumes: anonymous ones, or all with all=true (API >= 1.42)."""
        filters = filters or {}
        f.check_filter_keys(filters, PRUNE_FILTERS)
        everything = f.parse_bool_filter("all", filters["all"]) if "all" in filters else False
        deleted, reclaimed = [], 0
        for volume in self.all():
            if in_use(volume.name) or not (everything or volume.anonymous):
                continue
            if not _matches(volume, {k: v for k, v in filters.items() if k != "all"}):
                continue
            size = fs.dir_size(volume.mountpoint)
            with contextlib.suppress(NotFound):
                self.remove(volume.name)
                deleted.append(volume.name)
                reclaimed += size
        return deleted, reclaimed


def _matches(volume: Volume, filters: Mapping[str, List[str]]) -> bool:
    if "name" in filters and not any(n in volume.name for n in filters["name"]):
        return False
    if "driver" in filters and volume.driver not in filters["driver"]:
        return False
    labels = volume.labels
    return (f.match_labels(labels, filters.get("label", []))
            and f.match_label_exclusions(labels, filters.get("label!", [])))

