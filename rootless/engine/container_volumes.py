"""Containers' volumes: chosen once at create, kept for the container's life.

Docker and podman pick a container's volumes once, at create: every start
mounts the same ones, `rm -v` removes exactly its anonymous ones. The lock
makes "which containers use it" and "remove it" one step against a create
that is choosing the same volume. Volumes the engine makes or removes on its
own (a container's, a prune's) are announced as docker announces them.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

from rootless.engine import container_spec
from rootless.engine.container_model import Container, MountPoint
from rootless.engine.container_spec import MountRequest
from rootless.engine.events import EventBus
from rootless.errors import FailedPrecondition, InvalidArgument, NotFound, RootlessError
from rootless.runtime import spec as runtime_spec
from rootless.volumes import options as local_options
from rootless.volumes.store import VolumeStore

logger = logging.getLogger(__name__)

# Ids of the containers (running or not) that mount a volume, by its name.
VolumeUsers = Callable[[str], List[str]]


class ContainerVolumes:
    """Named and anonymous volumes as containers use them; one per engine."""

    def __init__(self, store: VolumeStore, events: EventBus) -> None:
        self.store = store
        self.events = events
        self.lock = threading.RLock()

    def mount_points(self, requests: Sequence[MountRequest], recorded: Mapping[str, MountPoint],
                     made: List[Dict[str, Any]]) -> None:
        """docker's MountPoints for requests, appended to made as volumes are created.

        recorded maps a destination to its earlier MountPoint: an anonymous
        volume recorded there is reused. The caller keeps made, so a failed
        create can remove what was made before the failure.
        """
        with self.lock:
            for request in requests:
                earlier = recorded.get(request.destination)
                name = earlier.name if earlier is not None else ""
                made.append(self._mount_point(request, name))

    def _mount_point(self, request: MountRequest, recorded_name: str) -> Dict[str, Any]:
        rw = not request.read_only
        if request.is_volume:
            name = request.source or recorded_name
            created = not name or not self.store.exists(name)
            volume = self.store.create(name or None, labels=dict(request.labels), anonymous=request.is_anonymous)
            if created:
                self.events.publish("volume", "create", volume.name, driver="local")
            return {"Type": "volume", "Name": volume.name, "Source": volume.mountpoint,
                    "Destination": request.destination, "Driver": "local", "Mode": "z", "RW": rw,
                    "Propagation": ""}
        if not os.path.exists(request.source):
            raise InvalidArgument(f"invalid mount config: bind source path does not exist: {request.source}")
        propagation = next((o for o in request.options if o.endswith(("private", "shared", "slave"))), "rprivate")
        return {"Type": "bind", "Source": request.source, "Destination": request.destination, "Mode": "",
                "RW": rw, "Propagation": propagation}

    def spec_mounts(self, rootfs: str, requests: Sequence[MountRequest],
                    recorded: Mapping[str, MountPoint]) -> List[runtime_spec.Mount]:
        """The runtime's mounts at start: tmpfs and bind volumes mounted, new volumes filled first.

        rootfs is the container's mounted root: a new volume is copied up from
        the directory it covers there (volumes/copyup.py) unless nocopy.
        """
        mounts = []
        for request in requests:
            point = recorded[request.destination]
            options = request.options
            if request.is_volume and point.name:
                options = self._before_mount(point, request, rootfs)
            mounts.append(runtime_spec.Mount(request.destination, point.source, "bind", options))
        return mounts

    def _before_mount(self, point: MountPoint, request: MountRequest, rootfs: str) -> Tuple[str, ...]:
        try:
            volume = self.store.get(point.name)
        except NotFound:
            return request.options  # removed meanwhile: the runtime says the source is missing
        self.store.activate(volume)
        try:
            if self.store.first_mount(volume.name, rootfs, request.destination, request.copy):
                logger.info("copied %s of the image into new volume %s", request.destination, volume.name)
        except OSError as exc:
            raise FailedPrecondition(f"copy {request.destination} into volume {volume.name}: {exc}") from None
        if local_options.parse(volume.name, volume.options).read_only and "rw" in request.options:
            return tuple("ro" if option == "rw" else option for option in request.options)
        return request.options

    def resolve_volumes_from(self, container: Container, lookup: Callable[[str], Container]) -> None:
        """--volumes-from, once at create: the other containers' binds and volumes, same destinations.

        Raises NotFound for an unknown container, InvalidArgument for a bad mode.
        """
        inherited: List[Dict[str, Any]] = []
        for entry in container.volumes_from:
            ref, _, mode = entry.partition(":")
            modes = [m for m in mode.split(",") if m and m not in ("z", "Z")]
            if any(m not in ("ro", "rw") for m in modes) or len(modes) > 1:
                raise InvalidArgument(f"invalid mode: {mode}", hint="--volumes-from takes CONTAINER[:ro|rw]")
            other = lookup(ref)
            for point in other.mount_points():
                read_only = point.read_only if not modes else modes[0] == "ro"
                inherited.append({"Destination": point.destination, "ReadOnly": read_only,
                                  "Source": point.name or point.source})
        if inherited:
            container.set_internal(container_spec.VOLUMES_FROM_KEY, inherited)

    def remove_anonymous(self, container_id: str, names: Sequence[str], users: VolumeUsers) -> None:
        """Remove a container's anonymous volumes that no other container uses (docker rm -v)."""
        with self.lock:
            for name in names:
                if any(user != container_id for user in users(name)):
                    continue  # moby ignores "in use" here: another container shares it
                try:
                    self.store.remove(name)
                except RootlessError as exc:
                    logger.warning("can't remove volume %s of container %s: %s", name, container_id, exc)
                    continue
                self.events.publish("volume", "destroy", name, driver="local")

    def remove(self, name: str, force: bool, users: VolumeUsers) -> None:
        """docker volume rm: refused while any container, also a stopped one, uses it.

        Raises:
            Conflict: "remove NAME: volume is in use - [ID]" (docker's words), even with force.
            NotFound: no such volume (not with force).
        """
        with self.lock:
            self.store.remove(name, force, users(name))
        self.events.publish("volume", "destroy", name, driver="local")

    def prune(self, filters: Dict[str, List[str]], users: VolumeUsers) -> Tuple[List[str], int]:
        """docker volume prune: unused anonymous volumes (all unused ones with all=true)."""
        with self.lock:
            deleted, space = self.store.prune(lambda name: bool(users(name)), filters)
        for name in deleted:
            self.events.publish("volume", "destroy", name, driver="local")
        return deleted, space


def anonymous_names(container: Container) -> List[str]:
    """Names of the volumes made for a container (-v /path, image VOLUME), from its record."""
    try:
        requests = container_spec.mount_requests(container)
    except InvalidArgument:
        return []
    recorded = {m.destination: m for m in container.mount_points()}
    return [recorded[r.destination].name for r in requests
            if r.is_anonymous and r.destination in recorded and recorded[r.destination].name]
