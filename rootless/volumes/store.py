"""Named volumes: a record and a data dir per volume, like docker's local driver.

Layout: <paths.volumes>/<name>/volume.json (written atomically) and
<name>/_data (what containers mount). Both steps that touch several files are
crash-safe by construction: a volume is built in a `.tmp-*` dir and renamed
into place, and removed by a durable rename into `.trash/` before its data is
deleted (util/trash.py); recover() (the daemon, at start) empties both. Names starting with a
dot are no volume names, so list and prune never see either. Whether a volume is in use is the
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
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from rootless.config.paths import Paths
from rootless.images.crashpoint import crash_point
from rootless.volumes import copyup
from rootless.volumes import options as local_options
from rootless.volumes.options import TMPFS
from rootless.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from rootless.util import fs, linux
from rootless.util.fs import remove_tree
from rootless.util.trash import TRASH, Trash
from rootless.wire import filters as f
from rootless.wire.times import SECONDS, now_rfc3339

logger = logging.getLogger(__name__)

LOCAL = "local"
RECORD = "volume.json"
COPYUP_LOCK = ".copyup.lock"  # serialises the first mounts of one volume
DATA = "_data"
TMP_PREFIX = ".tmp-"
LEGACY_TRASH_PREFIX = ".deleting-"  # older versions renamed next to the volumes
# docker's local driver makes a new volume's data dir 0755 root:root, whatever the daemon's umask.
DATA_MODE = 0o755
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
    # New and never mounted by a container: the first one fills it from the image (volumes/copyup.py).
    needs_copy_up: bool = False

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

    def record(self) -> Dict[str, Any]:
        """What volume.json holds: docker's fields and our own state."""
        return {**self.to_json(), "NeedsCopyUp": self.needs_copy_up}

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> "Volume":
        return cls(
            name=data["Name"], mountpoint=data["Mountpoint"], created_at=data["CreatedAt"],
            driver=data.get("Driver", LOCAL), labels=f.copy_labels(data.get("Labels") or {}),
            options=f.copy_labels(data.get("Options") or {}),
            needs_copy_up=bool(data.get("NeedsCopyUp")),  # a record from before copy-up: never
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
        self.trash = Trash(os.path.join(self.root, TRASH))

    def recover(self) -> None:
        """Finish what a killed daemon left: removals in the trash, creations half built.

        Only for the store's one owner at start-up (the daemon, holding the
        store lock), when nothing else can be creating or removing.
        """
        with self._locked():
            leftovers = self.trash.empty_now()
            for name in os.listdir(self.root):
                if name.startswith((TMP_PREFIX, LEGACY_TRASH_PREFIX)):
                    remove_tree(os.path.join(self.root, name))
                    leftovers += 1
        if leftovers:
            logger.warning("finished %d interrupted volume removals or creations", leftovers)

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
        local = local_options.parse(name, options or {})
        if (driver or LOCAL) != LOCAL:
            raise InvalidArgument(f"create {name}: volume driver {driver} is not supported",
                                  hint="only the local driver is available")
        with self._locked():
            existing = self._read(name)
            if existing is not None:
                return existing
            volume = Volume(name, os.path.join(self._dir(name), DATA), now_rfc3339(SECONDS),
                            labels=f.copy_labels(labels), options=f.copy_labels(options or {}),
                            needs_copy_up=not local.kind)
            self._build(volume)
        logger.info("created volume %s", name)
        return volume

    def _build(self, volume: Volume) -> None:
        """Record and data dir in a temp dir, renamed into place: a crash leaves no half volume."""
        building = tempfile.mkdtemp(prefix=TMP_PREFIX, dir=self.root)
        try:
            data = os.path.join(building, DATA)
            os.mkdir(data)
            os.chmod(data, DATA_MODE)  # explicit: mkdir's mode is cut by the umask
            fs.atomic_write_json(os.path.join(building, RECORD), volume.record())
            if os.path.lexists(self._dir(volume.name)):
                self.trash.discard_durably(self._dir(volume.name))  # a dir without a record: nobody's volume
            os.rename(building, self._dir(volume.name))
        except BaseException:
            remove_tree(building)
            raise
        fs.fsync_dir(self.root)

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
        f.validate(filters, LIST_FILTERS)
        dangling = f.get_bool(filters, "dangling") if "dangling" in filters else None
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
                # moby's exact words (volume/service OpErr), no hint: clients match on them
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(in_use_by)}]")
            self._delete(name)
        logger.info("removed volume %s", name)

    def _delete(self, name: str) -> None:
        """Rename into the trash first: a crash never leaves half a volume visible, and
        the next recover() (or prune) deletes what is left there. A tmpfs or bind
        volume's mount goes first: its data is not the volume's to delete."""
        _unmount(os.path.join(self._dir(name), DATA))
        doomed = self.trash.discard_durably(self._dir(name))
        if doomed is None:  # its record was read under the lock a moment ago: someone else's rm -r
            raise NotFound(f"remove {name}: no such volume: its directory is gone")
        crash_point("volume-rm:after-trash")
        self.trash.delete_now(doomed)

    def activate(self, volume: Volume) -> None:
        """Mount a tmpfs or bind volume's filesystem on its _data (once; it stays until volume rm).

        Docker's local driver mounts at first use too. The mount lives in the
        engine's mount namespace, so a restarted daemon finds it.
        """
        local = local_options.parse(volume.name, volume.options)
        if not local.kind or _mounted(volume.mountpoint):
            return
        with self._locked():
            if _mounted(volume.mountpoint):
                return
            try:
                linux.mount(local.device, volume.mountpoint, TMPFS if local.kind == TMPFS else None,
                            local_options.mount_flags(local), local.data or None)
            except OSError as exc:
                raise FailedPrecondition(f"mount volume {volume.name}: {local.kind} {local.device}: "
                                         f"{exc.strerror}") from None
        logger.info("mounted %s on volume %s", local.device, volume.name)

    def first_mount(self, name: str, rootfs: str, path: str, copy: bool) -> bool:
        """A container is about to mount the volume at path: a new one is filled from rootfs's path.

        Only the first mount of a new volume copies (podman's NeedsCopyUp;
        docker's "empty and new"), and only into an empty _data; copy False
        (nocopy) still makes it no longer new. True when something was copied.
        """
        with fs.locked(os.path.join(self._dir(name), COPYUP_LOCK)):
            volume = self._read(name)
            if volume is None or not volume.needs_copy_up:
                return False
            copied = copyup.copy_up(rootfs, path, volume.mountpoint) if copy else False
            crash_point("volume-copyup:before-record")
            volume.needs_copy_up = False
            fs.atomic_write_json(os.path.join(self._dir(name), RECORD), volume.record())
        return copied

    def prune(self, in_use: InUse, filters: Optional[Mapping[str, List[str]]] = None
              ) -> Tuple[List[str], int]:
        """Remove unused volumes: anonymous ones, or all with all=true (API >= 1.42)."""
        filters = filters or {}
        f.validate(filters, PRUNE_FILTERS)
        everything = f.get_bool(filters, "all", default=False)
        with self._locked():
            self.trash.empty_now()  # removals a crash interrupted are garbage too
        deleted, reclaimed = [], 0
        for volume in self.all():
            if in_use(volume.name) or not (everything or volume.anonymous):
                continue
            if volume.options:
                continue  # moby skips volumes with mount options even with all=true: no space to reclaim
            if not _matches(volume, {k: v for k, v in filters.items() if k != "all"}):
                continue
            size = fs.dir_size(volume.mountpoint)
            with contextlib.suppress(NotFound):
                self.remove(volume.name)
                deleted.append(volume.name)
                reclaimed += size
        return deleted, reclaimed


def _mounted(path: str) -> bool:
    """Whether path is a mount point (os.path.ismount misses a bind on the same filesystem)."""
    path = os.path.realpath(path)  # mountinfo shows resolved paths: a symlinked store root must match
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 4 and _unescape(fields[4]) == path:
                return True
    return False


def _unescape(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def _unmount(path: str) -> None:
    while os.path.isdir(path) and _mounted(path):
        linux.umount(path, linux.MNT_DETACH)


def _matches(volume: Volume, filters: Mapping[str, List[str]]) -> bool:
    if "name" in filters and not any(n in volume.name for n in filters["name"]):
        return False
    if "driver" in filters and volume.driver not in filters["driver"]:
        return False
    labels = volume.labels
    return f.match_labels(filters, labels)

