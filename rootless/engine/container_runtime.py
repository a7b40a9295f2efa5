"""What the container state machine needs from the host: the runtime port.

`Containers` (engine/containers.py) drives a container through created,
running and exited; turning that into a rootfs and processes is the storage
driver's, the monitor's (runtime/supervisor.py) and crun's work. This module
is the seam between the two: `ContainerRuntime` is the Protocol the state
machine is written against, `HostRuntime` the real thing composed of driver,
supervisor and crun. Unit tests inject a fake (tests/unit/engine/fake_runtime.py),
so transitions, restart policies and adoption run without processes.
podman draws the same line: libpod's OCIRuntime "holds no state logic".
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, ContextManager, Dict, Iterator, List, Optional, Protocol, Tuple, cast

from rootless.config import Paths
from rootless.errors import FailedPrecondition, RootlessError
from rootless.images import layers, squash_store
from rootless.images.site_store import SiteImageRecord
from rootless.images.store import ImageRecord, ImageStore
from rootless.host.cgroups import CgroupInfo
from rootless.host.userns import Mapping
from rootless.runtime import cgroup_manager
from rootless.runtime import crun as crun_mod
from rootless.runtime import spec as runtime_spec
from rootless.runtime.storage.changes import list_changes
from rootless.runtime.storage.driver import (FUSE_OVERLAYFS, IdTriples, RootfsLayout, StorageDriver, driver_of,
                                             is_mount_point, read_lowers, stored_record, write_idmap)
from rootless.runtime.storage.factory import fuse_overlayfs_usable, get_driver
from rootless.runtime.storage.squashfs import SquashMounts, identity_of, mounted_lowers
from rootless.runtime.supervisor import ExecProcess, Launched, Supervisor
from rootless.util import fs, linux

START_TIMEOUT = 60.0
IdShift = Tuple[IdTriples, IdTriples]  # (uid, gid) triples: stored id, shown id, count


@dataclass(frozen=True)
class MonitorSettings:
    """How the monitor runs one start of a container (stdio, logs, network helper)."""

    log_path: str
    log_max_size: int
    log_max_files: int
    tty: bool
    open_stdin: bool
    stdin_once: bool
    network: str  # the monitor's network helper: slirp4netns | pasta | none
    ports: List[Dict[str, Any]]
    allow_host_loopback: bool = False  # its own slirp4netns: the gateway reaches the host's loopback
    log_settings: Dict[str, Any] = field(default_factory=dict)  # runtime.logs.LogSettings; {}: json-file
    pasta_options: List[str] = field(default_factory=list)  # its own pasta: --network pasta:OPTS


class ContainerRuntime(Protocol):
    """Rootfs and processes of containers, by id; no records, no state logic."""

    def prepare_rootfs(self, container_id: str, image: ImageRecord, shift: Optional[IdShift] = None,
                       durable: bool = True) -> None:
        """The container's writable rootfs over the image's unpacked layers; shift: its ids shown shifted;
        durable=False: no fsync of its record (a --rm container's, whose own record has none)."""

    def mount(self, container_id: str) -> str:
        """Mount the rootfs (idempotent); its path."""

    def upper_dir(self, container_id: str) -> str:
        """The container's own changes (docker's SizeRw, diff, commit)."""

    def changes(self, container_id: str) -> List[Dict[str, Any]]:
        """docker diff: what the container changed over its image's layers."""

    def lowers(self, container_id: str) -> ContextManager[List[str]]:
        """The rootfs's lower dirs, readable (a squashfs image's mount kept) until the block ends."""

    def remove_rootfs(self, container_id: str) -> None:
        """Unmount and delete the rootfs and the monitor's directory (docker rm)."""

    def release_rootfs(self, container_id: str, moved_to: Optional[str] = None) -> None:
        """Unmount the rootfs and delete the monitor's directory, keeping the container's dirs
        (docker rm: the engine renames them into its trash, engine/container_trash.py);
        moved_to: where the container's dir is now (renamed into the trash, mount and all)."""

    def launch(self, container_id: str, options: runtime_spec.SpecOptions,
               monitor: MonitorSettings, while_creating: Callable[[], None] = lambda: None) -> Launched:
        """Write the OCI bundle and have a monitor `crun create` it; the process waits for start().
        while_creating() runs in the caller's thread while `crun create` runs."""

    def bundle_config(self, container_id: str) -> Optional[Dict[str, Any]]:
        """A running container's OCI config as launched (its process, its root); None: not running."""

    def start(self, container_id: str) -> None:
        """Let a launched container's process run (`crun start`)."""

    def resume_start(self, container_id: str) -> Optional[Launched]:
        """Finish a start a killed daemon left off; None when no monitor runs."""

    def has_leftovers(self, container_id: str) -> bool:
        """A monitor directory or a mounted rootfs: what a start leaves before it is recorded."""

    def drop_orphans(self, recorded: Collection[str]) -> List[str]:
        """At start: the monitor dirs of containers not in recorded whose dir is gone too (a
        daemon killed in a removal, after its rename, engine/containers.py); their ids."""

    def wait_exit(self, container_id: str) -> Optional[Dict[str, Any]]:
        """Block until the container's process is gone; its exit report (ExitCode, FinishedAt)."""

    def read_exit(self, container_id: str) -> Optional[Dict[str, Any]]:
        """The exit report if the process is gone, else None."""

    def is_alive(self, container_id: str) -> bool:
        """The container's monitor still runs."""

    def teardown(self, container_id: str) -> None:
        """After the process is gone: unmount the rootfs, forget the monitor."""

    def signal(self, container_id: str, sig: int) -> None:
        """Send sig to the container's process; ToolError when the runtime refuses."""

    def pause(self, container_id: str) -> None:
        """Freeze every process of the container."""

    def resume(self, container_id: str) -> None:
        """Thaw a paused container."""

    def stats(self, container_id: str, pid: int, name: str, previous: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        """One docker stats sample of the running container's cgroup (previous: the sample before, as precpu)."""

    def update(self, container_id: str, resources: Dict[str, Any]) -> None:
        """New linux.resources for the running container (`crun update`)."""

    def resize(self, container_id: str, height: int, width: int) -> None:
        """The container's TTY size."""

    def attach(self, container_id: str, stdin: bool, stdout: bool, stderr: bool) -> socket.socket:
        """A connection to the monitor's stdio socket."""

    def exec(self, container_id: str, exec_id: str, process: Dict[str, Any], *, stdin: bool,
             detach: bool) -> ExecProcess:
        """Start an extra process in the running container (`crun exec`)."""


@dataclass(frozen=True)
class ContainerHost:
    """What containers need to know about this host (found once, at daemon start)."""

    storage_driver: str
    network_backend: str
    cgroup: CgroupInfo
    spec_host: runtime_spec.HostFacts
    hooks_dirs: Tuple[str, ...]
    runtime_name: str  # HostConfig.Runtime as inspect names it


@dataclass(frozen=True)
class RuntimeHost:
    """What the runtime needs to know about this host and daemon."""

    mapping: Mapping
    cgroup: CgroupInfo
    spec_host: runtime_spec.HostFacts
    runtime_binary: str
    log_level: str
    monitor: str = "python"  # the `monitor` setting: auto | conmon | python (runtime/supervisor.py)


class HostRuntime:
    """ContainerRuntime on this host: a storage driver, the monitors, crun."""

    def __init__(self, paths: Paths, image_store: ImageStore, driver: StorageDriver, host: RuntimeHost,
                 supervisor: Optional[Supervisor] = None) -> None:
        self.paths = paths
        self.image_store = image_store
        self.driver = driver
        self._fuse_driver: Optional[StorageDriver] = None
        self.host = host
        # crun then skips copying itself into a memfd at each call (~3 ms of each create, start, delete)
        crun_mod.pin_read_only(host.runtime_binary)
        self.crun = crun_mod.Crun(host.runtime_binary, paths.crun_state, host.cgroup.manager)
        self.supervisor = supervisor or Supervisor(paths, self.crun, monitor=host.monitor)
        self.squash = SquashMounts(paths.squashfs_mounts)

    def prepare_rootfs(self, container_id: str, image: ImageRecord, shift: Optional[IdShift] = None,
                       durable: bool = True) -> None:
        """shift (--userns=keep-id): a fuse-overlayfs rootfs that shows the stored ids as the container's
        user namespace must see them (the kernel can't idmap an overlay mounted in a user namespace)."""
        if shift is not None and not fuse_overlayfs_usable():
            raise FailedPrecondition("--userns=keep-id: needs fuse-overlayfs to show the image's owners "
                                     "in the container's id mapping", hint="install fuse-overlayfs")
        lowers = self._lowers(image)
        with self.squash.held(lowers):  # vfs copies them here; overlays check they are dirs
            (self.driver if shift is None else self._fuse()).create(container_id, lowers, durable)
        if shift is not None:
            write_idmap(RootfsLayout.of(self.paths, container_id), *shift)

    def _lowers(self, image: ImageRecord) -> List[str]:
        """A site image's one lower is its squashfs file mounted (issue 15), as is that of an image of the
        user's kept as a file (image_format = "squashfs"); others' are unpacked layers."""
        if isinstance(image, SiteImageRecord):
            return [self.squash.lower_for(image.squashfs, image.identity)]
        own_file = squash_store.image_file(self.paths.root, image.image_id)
        if os.path.isfile(own_file):
            return [self.squash.lower_for(own_file, identity_of(os.stat(own_file)))]
        return layers.ensure_unpacked(self.image_store, image)

    def _fuse(self) -> StorageDriver:
        if self.driver.name == FUSE_OVERLAYFS:
            return self.driver
        if self._fuse_driver is None:
            self._fuse_driver = get_driver(FUSE_OVERLAYFS, self.paths)
        return self._fuse_driver

    def _driver(self, container_id: str, recorded: Optional[str] = None) -> StorageDriver:
        """The driver the container's rootfs was made with (keep-id ones: fuse-overlayfs); recorded:
        its name from a lowers.json read already."""
        if self.driver.name == FUSE_OVERLAYFS:
            return self.driver
        if (recorded or driver_of(self.paths, container_id)) == FUSE_OVERLAYFS:
            return self._fuse()
        return self.driver

    def mount(self, container_id: str) -> str:
        record = stored_record(RootfsLayout.of(self.paths, container_id))  # None: the driver says "not created"
        # A squashfs image's mount is made again if released or gone with an older namespace.
        with self.squash.held(list(record["lowers"]) if record else []):
            return self._driver(container_id, str(record.get("driver")) if record else None).mount(container_id)

    @contextlib.contextmanager
    def lowers(self, container_id: str) -> Iterator[List[str]]:
        lowers = read_lowers(RootfsLayout.of(self.paths, container_id))
        with self.squash.held(lowers):
            yield lowers
        self._release_images(lowers)  # mounted for this read of a stopped container's: not kept

    def _release_images(self, lowers: List[str]) -> None:
        """Unmount the squashfs images of lowers no mounted rootfs uses any more (issue 15)."""
        with contextlib.suppress(RootlessError, OSError):
            self.squash.release(lowers, lambda: mounted_lowers(self.paths.containers))

    def release_unused_images(self) -> None:
        """At start: unmount the squashfs images no container rootfs mounted now uses."""
        self._release_images([os.path.join(self.squash.base, key, "rootfs") for key in self.squash.mounted_keys()])

    def upper_dir(self, container_id: str) -> str:
        return self._driver(container_id).upper_dir(container_id)

    def changes(self, container_id: str) -> List[Dict[str, Any]]:
        with self.lowers(container_id) as lowers:
            return list_changes(self._driver(container_id).upper_dir(container_id), lowers)

    def remove_rootfs(self, container_id: str) -> None:
        lowers = self._lowers_of(container_id)
        self._driver(container_id).remove(container_id)
        self._release_images(lowers)
        self.supervisor.remove(container_id)

    def _lowers_of(self, container_id: str) -> List[str]:
        layout = RootfsLayout.of(self.paths, container_id)
        return read_lowers(layout) if layout.exists() else []

    def release_rootfs(self, container_id: str, moved_to: Optional[str] = None) -> None:
        if moved_to is not None:
            self._release_moved(container_id, RootfsLayout(os.path.join(moved_to, "rootfs")))
            return
        lowers = self._lowers_of(container_id)
        self._driver(container_id).unmount(container_id)
        merged = RootfsLayout.of(self.paths, container_id).merged
        if is_mount_point(merged):  # what remove_tree refuses: the trash's rmtree must not go through a mount
            raise FailedPrecondition(f"remove rootfs: {merged}: still mounted")
        self._release_images(lowers)
        # removed for good: conmon may finish its `crun delete` after the answer (Supervisor.remove)
        self.supervisor.remove(container_id, wait_monitor=False)

    def _release_moved(self, container_id: str, layout: RootfsLayout) -> None:
        """A removed container's rootfs in its trash entry: no lock (the id is gone for good),
        no mount table read (the trash's deletion checks the mount table before it deletes)."""
        lowers = read_lowers(layout) if layout.exists() else []
        unmount_all(layout.merged)
        self._release_images(lowers)
        self.supervisor.remove(container_id, wait_monitor=False)

    def launch(self, container_id: str, options: runtime_spec.SpecOptions,
               monitor: MonitorSettings, while_creating: Callable[[], None] = lambda: None) -> Launched:
        spec = runtime_spec.build_spec(options, self.host.mapping, self.host.spec_host)
        seccomp_key = self.supervisor.prepare_spec(cast(Dict[str, Any], spec))  # annotated before the one write
        config = self.supervisor.new_config(
            container_id, self.supervisor.bundle_dir(container_id), monitor.log_path, log_max_size=monitor.log_max_size,
            log_max_files=monitor.log_max_files, tty=monitor.tty, open_stdin=monitor.open_stdin,
            stdin_once=monitor.stdin_once, network=monitor.network, ports=monitor.ports,
            allow_host_loopback=monitor.allow_host_loopback, log_settings=monitor.log_settings,
            log_level=self.host.log_level, pasta_options=monitor.pasta_options,
            memory_limited=_limits_memory(spec))
        # Compact: only crun and the engine read it, and json's indent turns off its C encoder (~4x slower).
        return self.supervisor.launch(config, timeout=START_TIMEOUT, seccomp_key=seccomp_key, spec_prepared=True,
                                      while_creating=while_creating, bundle_spec=json.dumps(spec))

    def bundle_config(self, container_id: str) -> Optional[Dict[str, Any]]:
        return self.supervisor.bundle_config(container_id)

    def start(self, container_id: str) -> None:
        self.supervisor.start(container_id)

    def resume_start(self, container_id: str) -> Optional[Launched]:
        return self.supervisor.resume_start(container_id, timeout=START_TIMEOUT)

    def has_leftovers(self, container_id: str) -> bool:
        return os.path.isdir(self.paths.monitor_dir(container_id)) or self._driver(container_id).is_mounted(container_id)

    def drop_orphans(self, recorded: Collection[str]) -> List[str]:
        # a dir still in the store without a (whole) record is left for a human, with its monitor
        return self.supervisor.drop_orphans(
            lambda container_id: container_id in recorded or os.path.lexists(self.paths.container_dir(container_id)))

    def wait_exit(self, container_id: str) -> Optional[Dict[str, Any]]:
        return self.supervisor.wait_exit(container_id)

    def read_exit(self, container_id: str) -> Optional[Dict[str, Any]]:
        return self.supervisor.read_exit(container_id)

    def is_alive(self, container_id: str) -> bool:
        return self.supervisor.is_alive(container_id)

    def teardown(self, container_id: str) -> None:
        with contextlib.suppress(RootlessError, OSError):
            self._driver(container_id).unmount(container_id)
            self._release_images(self._lowers_of(container_id))
        self.supervisor.remove(container_id)

    def signal(self, container_id: str, sig: int) -> None:
        self.crun.kill(container_id, sig)

    def pause(self, container_id: str) -> None:
        self.crun.pause(container_id)

    def resume(self, container_id: str) -> None:
        self.crun.resume(container_id)

    def stats(self, container_id: str, pid: int, name: str, previous: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        return cgroup_manager.container_stats(pid, name, container_id, previous)

    def update(self, container_id: str, resources: Dict[str, Any]) -> None:
        fs.ensure_dir(self.paths.tmp)
        self.crun.update(container_id, resources, self.paths.tmp)

    def resize(self, container_id: str, height: int, width: int) -> None:
        self.supervisor.resize(container_id, height, width)

    def attach(self, container_id: str, stdin: bool, stdout: bool, stderr: bool) -> socket.socket:
        return self.supervisor.attach(container_id, stdin, stdout, stderr)

    def exec(self, container_id: str, exec_id: str, process: Dict[str, Any], *, stdin: bool,
             detach: bool) -> ExecProcess:
        return self.supervisor.exec(container_id, exec_id, process, stdin=stdin, detach=detach)


def unmount_all(path: str) -> None:
    """Unmount every mount stacked on path without reading the mount table: umount(2) says
    EINVAL once path is no mount point (ENOENT: no such path). Every driver's mount is ours,
    made in this namespace, so never a locked one (which also answers EINVAL)."""
    while True:
        try:
            linux.umount(path, linux.MNT_DETACH)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOENT):
                return
            raise FailedPrecondition(f"remove rootfs: {exc}") from exc


def _limits_memory(spec: Any) -> bool:
    """Whether the spec caps the container's memory (an OOM kill then is the likely end)."""
    memory = (spec.get("linux") or {}).get("resources", {}).get("memory") or {}
    return bool(memory.get("limit"))
