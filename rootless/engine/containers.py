"""Containers: create, start, stop, remove, wait — the engine's state machine.

States follow docker's: created -> running -> exited (-> running again on
start or by the restart policy) -> removing -> gone. Each running container has
a monitor process (runtime/monitor.py) that owns its stdio and exit status, so
it keeps running when the daemon stops; a starting daemon re-adopts it.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Set

from rootless.config import Paths
from rootless.engine.container_model import Container, merge_config, new_record, now_rfc3339
from rootless.engine.events import GONE_CHECK_INTERVAL, ClientGone
from rootless.engine.names import random_name, validate_name
from rootless.errors import Conflict, InvalidArgument, NotFound
from rootless.util import fs

logger = logging.getLogger(__name__)

ID_RE = re.compile(r"^[0-9a-f]+$")


class ContainerService:
    """Owns every container record; one per engine."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.paths: Paths = engine.paths
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._containers: Dict[str, Container] = {}
        self._exit_generation: Dict[str, int] = {}
        self._removed: Set[str] = set()
        self._load_all()

    # -- records --------------------------------------------------------------
    def _load_all(self) -> None:
        fs.ensure_dir(self.paths.containers)
        for container_id in os.listdir(self.paths.containers):
            record = Container.load(self.paths, container_id)
            if record is not None:
                self._containers[container_id] = record

    def all(self) -> List[Container]:
        with self._lock:
            return sorted(self._containers.values(), key=lambda c: c.data["Created"], reverse=True)

    def get(self, ref: str) -> Container:
        """By full id, name (with or without /), or unique id prefix."""
        with self._lock:
            if ref in self._containers:
                return self._containers[ref]
            name = ref.lstrip("/")
            for container in self._containers.values():
                if container.name == name:
                    return container
            if ID_RE.match(ref):
                matches = [c for cid, c in self._containers.items() if cid.startswith(ref)]
                if len(matches) == 1:
                    return matches[0]
                if len(matches) > 1:
                    raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def _name_taken(self, name: str) -> bool:
        return any(c.name == name for c in self._containers.values())

    def counts(self) -> Dict[str, int]:
        with self._lock:
            states = [c.status for c in self._containers.values()]
        running = sum(1 for s in states if s in ("running", "restarting"))
        paused = sum(1 for s in states if s == "paused")
        return {"Containers": len(states), "ContainersRunning": running, "ContainersPaused": paused,
                "ContainersStopped": len(states) - running - paused}

    def using_image(self, image_id: str) -> List[Container]:
        with self._lock:
            return [c for c in self._containers.values() if c.data.get("Image") == image_id]

    # -- create ---------------------------------------------------------------
    def create(self, body: Dict[str, Any], name: Optional[str]) -> Container:
        """Create a container from an image that must already be in the store.

        Raises:
            NotFound: the image is not in the store ("No such image: ref").
            Conflict: the name is in use.
            InvalidArgument: the body is malformed.
        """
        image_ref = body.get("Image")
        if not image_ref or not isinstance(image_ref, str):
            raise InvalidArgument("config: Image is required")
        image = self.engine.images.get(image_ref)
        host_config = dict(body.get("HostConfig") or {})
        self.engine.check_host_config(host_config)
        container_id = os.urandom(32).hex()
        image_config = image.config.to_json().get("config", {}) if hasattr(image.config, "to_json") else {}
        config = merge_config(image_config, {k: v for k, v in body.items()
                                             if k not in ("HostConfig", "NetworkingConfig")}, container_id)
        with self._lock:
            if name:
                name = validate_name(name)
                if self._name_taken(name):
                    other = next(c for c in self._containers.values() if c.name == name)
                    raise Conflict(
                        f'Conflict. The container name "/{name}" is already in use by container "{other.id}". '
                        "You have to remove (or rename) that container to be able to reuse that name."
                    )
            else:
                name = random_name(self._name_taken)
            record = Container(self.paths, new_record(
                container_id, name, image_ref, image.image_id, config, host_config,
                body.get("NetworkingConfig") or {}, self.engine.host.storage_driver, self.paths))
            fs.ensure_dir(record.dir)
            self._containers[container_id] = record
        try:
            self.engine.prepare_container(record, image)
            record.save()
        except BaseException:
            with self._lock:
                self._containers.pop(container_id, None)
            shutil.rmtree(record.dir, ignore_errors=True)
            raise
        self.engine.events.publish("container", "create", container_id, **self._event_attrs(record))
        return record

    def _event_attrs(self, container: Container, **extra: str) -> Dict[str, str]:
        labels = {str(k): str(v) for k, v in (container.config.get("Labels") or {}).items()}
        return {**labels, "image": container.config.get("Image", ""), "name": container.name, **extra}

    def publish(self, container: Container, action: str, **extra: str) -> None:
        self.engine.events.publish("container", action, container.id, **self._event_attrs(container, **extra))

    # -- state changes --------------------------------------------------------
    def mark_running(self, container: Container, pid: int) -> None:
        with self._lock:
            container.set_state("running", Pid=pid, StartedAt=now_rfc3339(), ExitCode=0, Error="",
                                FinishedAt="0001-01-01T00:00:00Z")
            container.save()
            self._changed.notify_all()

    def mark_exited(self, container: Container, exit_code: int, finished_at: Optional[str] = None,
                    error: str = "", oom: bool = False) -> None:
        with self._lock:
            container.set_state("exited", ExitCode=exit_code, FinishedAt=finished_at or now_rfc3339(),
                                Error=error, OOMKilled=oom)
            container.save()
            self._exit_generation[container.id] = self._exit_generation.get(container.id, 0) + 1
            self._changed.notify_all()

    def mark_start_failed(self, container: Container, error: str, exit_code: int) -> None:
        """Docker records a failed start as exited with the error text (128 / 126 / 127)."""
        self.mark_exited(container, exit_code, error=error)

    def rename(self, ref: str, new_name: str) -> None:
        container = self.get(ref)
        new_name = validate_name(new_name)
        with self._lock:
            if self._name_taken(new_name):
                raise Conflict(f'Conflict. The container name "/{new_name}" is already in use')
            old = container.name
            container.data["Name"] = "/" + new_name
            container.save()
        self.publish(container, "rename", oldName="/" + old)

    def forget(self, container: Container) -> None:
        """Drop the record and its directory (after the runtime cleaned up)."""
        with self._lock:
            container.set_state("removing")
            self._containers.pop(container.id, None)
            self._removed.add(container.id)
            self._changed.notify_all()
        shutil.rmtree(container.dir, ignore_errors=True)
        self.publish(container, "destroy")

    # -- wait -------------------------------------------------------------------
    def wait(self, container: Container, condition: str, timeout: Optional[float] = None,
             client_gone: Callable[[], bool] = lambda: False) -> Dict[str, Any]:
        """Block until the condition holds; return docker's wait body.

        Raises:
            ClientGone: client_gone() said the caller hung up (checked every second).
        """
        if condition not in ("not-running", "next-exit", "removed", ""):
            raise InvalidArgument(f"invalid condition: {condition}")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            start_gen = self._exit_generation.get(container.id, 0)

            def done() -> bool:
                if condition == "removed":
                    return container.id in self._removed
                if condition == "next-exit":
                    return self._exit_generation.get(container.id, 0) > start_gen
                return not container.running or container.id in self._removed

            while not done():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise Conflict(f"timed out waiting for container {container.id}")
                if client_gone():
                    raise ClientGone(f"wait for container {container.id}: the client hung up")
                self._changed.wait(timeout=GONE_CHECK_INTERVAL if remaining is None
                                   else min(GONE_CHECK_INTERVAL, remaining))
            error = container.state.get("Error") or None
            return {"StatusCode": int(container.state.get("ExitCode", 0)),
                    "Error": {"Message": error} if error else None}

    # -- list -------------------------------------------------------------------
    def list(self, all_: bool, filters: Dict[str, List[str]], limit: Optional[int] = None) -> List[Container]:
        result = []
        for container in self.all():
            if not all_ and not container.running and "status" not in filters:
                continue
            if not matches_filters(container, filters, self):
                continue
            result.append(container)
        return result[:limit] if limit and limit > 0 else result


def _label_ok(labels: Dict[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in labels and (not sep or labels[key] == value)


def matches_filters(container: Container, filters: Dict[str, List[str]], service: ContainerService) -> bool:
    checks: Dict[str, Callable[[str], bool]] = {
        "id": lambda v: container.id.startswith(v),
        "name": lambda v: re.search(v, container.name) is not None,
        "label": lambda v: _label_ok(container.config.get("Labels") or {}, v),
        "status": lambda v: container.status == v,
        "ancestor": lambda v: v in (container.config.get("Image"), container.data.get("Image"))
        or container.data.get("Image", "").startswith("sha256:" + v) or container.config.get("Image", "").startswith(v + ":"),
        "exited": lambda v: container.status == "exited" and str(container.state.get("ExitCode")) == v,
        "network": lambda v: v in (container.host_config.get("NetworkMode"),),
        "volume": lambda v: any(v in (m.get("Name"), m.get("Source"), m.get("Destination"))
                                for m in container.data.get("Mounts", [])),
        "before": lambda v: container.data["Created"] < service.get(v).data["Created"],
        "since": lambda v: container.data["Created"] > service.get(v).data["Created"],
        "is-task": lambda v: v in ("false", "0"),
    }
    for key, values in filters.items():
        check = checks.get(key)
        if check is None:
            raise InvalidArgument(f"invalid filter '{key}'")
        if key == "label":
            if not all(check(v) for v in values):
                return False
        elif not any(check(v) for v in values):
            return False
    return True
