"""The Engine: owns the stores and managers and answers system-wide questions."""
from __future__ import annotations

import logging
import os
import platform
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

import rootless
from rootless.config import STORE_VERSION, Paths, Settings
from rootless.config.paths import hooks_dirs
from rootless.engine import container_spec
from rootless.engine.build import BuildService
from rootless.engine.container_model import Container
from rootless.engine.containers import ContainerService
from rootless.engine.events import EventBus
from rootless.engine.execs import ExecService
from rootless.engine.images import ImageService
from rootless.engine.lifecycle import Lifecycle
from rootless.errors import FailedPrecondition, InvalidArgument, RootlessError
from rootless.images.store import ImageStore, rfc3339_now
from rootless.runtime.spec import Mount, SpecOptions
from rootless.networks.store import NetworkStore
from rootless.volumes.store import VolumeStore
from rootless.runtime import crun, storage
from rootless.host.cgroups import CgroupInfo
from rootless.host.userns import Mapping
from rootless.util import fs
from rootless.util.build import build_id

logger = logging.getLogger(__name__)

BUILTIN_NETWORK_MODES = ("bridge", "default", "host", "none")
GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


@dataclass(frozen=True)
class HostSetup:
    """What the daemon found at start: namespaces, cgroups, tools."""

    mapping: Mapping
    cgroup: CgroupInfo
    storage_driver: str
    network_backend: str
    runtime_binary: str


def go_arch() -> str:
    machine = platform.machine()
    return GO_ARCH.get(machine, machine)


def check_store_version(paths: Paths) -> None:
    """Create the store layout, or refuse a store written by another format."""
    for directory in (paths.root, paths.blobs, paths.ingest, paths.images, paths.layers,
                      paths.containers, paths.volumes, paths.networks, paths.tmp):
        fs.ensure_dir(directory)
    try:
        with open(paths.version_file, encoding="utf-8") as f:
            found = int(f.read().strip() or 0)
    except FileNotFoundError:
        fs.atomic_write(paths.version_file, f"{STORE_VERSION}\n")
        return
    if found != STORE_VERSION:
        raise FailedPrecondition(
            f"can't use store: {paths.root}: format version {found}, this rootless uses {STORE_VERSION}",
            hint="use another storage root (ROOTLESS_ROOT) or remove this one",
        )


class Engine:
    """The composition root: one per daemon, shared by every API handler."""

    def __init__(self, paths: Paths, settings: Settings, host: HostSetup) -> None:
        self.paths = paths
        self.settings = settings
        self.host = host
        self.events = EventBus()
        self.started_at = time.time()
        self.build_id = build_id()  # of the code this daemon runs; the CLI compares its own
        check_store_version(paths)
        self.image_store = ImageStore(paths)
        self.image_store.recover()  # the store lock is ours: a killed daemon's pulls go
        self.images = ImageService(self.image_store, settings, self.events)
        self.volumes = VolumeStore(paths)
        self.volumes.recover()  # removals and creations a killed daemon left half done
        self._volume_lock = threading.RLock()
        self.networks = NetworkStore(paths)
        self.containers = ContainerService(self)
        self.lifecycle = Lifecycle(self, self.containers)
        self.execs = ExecService(self)
        self.images.image_users = lambda image_id: [
            (c.id, c.running) for c in self.containers.using_image(image_id)]
        self.lifecycle.adopt()
        self.builds = BuildService(self)
        self.builds.remove_leftovers()

    def close(self) -> None:
        """Release what the engine holds; containers keep running under their monitors."""
        self.lifecycle.close()
        logger.info("engine closed")

    # -- what containers need from the rest of the engine --------------------
    def check_host_config(self, host_config: Dict[str, Any]) -> None:
        """Refuse at create time what this host cannot do (limits without cgroups)."""
        container_spec.check_limits(host_config, self.host.cgroup)
        container_spec.check_ulimits(host_config, self.lifecycle.spec_host)
        mode = host_config.get("NetworkMode") or "bridge"
        if mode.startswith("container:"):
            raise InvalidArgument(f"network mode {mode}: not supported yet")
        if mode not in BUILTIN_NETWORK_MODES:
            self.networks.get(mode)  # NotFound "network x not found", as docker says

    def prepare_container(self, container: Container, image: Any) -> None:
        """Volumes (resolved once, for the container's life), rootfs, networks."""
        try:
            self._resolve_mounts(container)
            self.lifecycle.prepare(container, image)
            mode = container.host_config.get("NetworkMode") or "bridge"
            if mode not in BUILTIN_NETWORK_MODES:
                endpoints = (container.data.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
                endpoint = endpoints.get(mode) or {}
                address = (endpoint.get("IPAMConfig") or {}).get("IPv4Address") or None  # --ip
                self.networks.connect(mode, container.id, container.name, endpoint.get("Aliases") or [], address)
        except BaseException:
            self._remove_anonymous_volumes(container)
            raise

    def network_setup(self, container: Container) -> container_spec.NetworkSetup:
        return container_spec.network_setup(container, self.host.network_backend)

    def spec_options(self, container: Container, rootfs: str,
                     network: container_spec.NetworkSetup) -> SpecOptions:
        etc_files = container_spec.write_etc_files(container, network)
        mounts = self._container_mounts(container)
        container_spec.ensure_workdir(rootfs, container.config.get("WorkingDir") or "")
        return container_spec.build_spec_options(container, rootfs, network, etc_files, mounts,
                                                 self.host.cgroup, hooks_dirs())

    # -- volumes ----------------------------------------------------------------
    # Docker and podman pick a container's volumes once, at create, and keep them
    # for its life: every start mounts the same ones, `rm -v` removes exactly its
    # anonymous ones. The lock makes "which containers use it" and "remove it"
    # one step against a create that is choosing the same volume.

    def _resolve_mounts(self, container: Container) -> None:
        """Create the volumes a new container asks for; record them (inspect's Mounts)."""
        requests = container_spec.mount_requests(container.config, container.host_config)
        records: List[Dict[str, Any]] = []
        container.data["Mounts"] = records  # filled as volumes are made: a failed create removes them
        with self._volume_lock:
            for request in requests:
                records.append(self._mount_record(request, ""))

    def _container_mounts(self, container: Container) -> List[Mount]:
        """Binds and volumes as recorded at create, for the runtime spec."""
        host_config = container.host_config
        recorded = {m.get("Destination"): m for m in container.data.get("Mounts") or []}
        mounts: List[Mount] = []
        records: List[Dict[str, Any]] = []
        with self._volume_lock:
            for request in container_spec.mount_requests(container.config, host_config):
                # a container created before volumes were recorded gets its anonymous ones now
                name = str((recorded.get(request.destination) or {}).get("Name") or "")
                record = self._mount_record(request, name)
                records.append(record)
                mounts.append(Mount(request.destination, record["Source"], "bind", request.options))
            if records != container.data.get("Mounts"):
                container.data["Mounts"] = records
                container.save()
        return mounts

    def _mount_record(self, request: container_spec.MountRequest, recorded_name: str) -> Dict[str, Any]:
        """docker's MountPoint for one request; a volume is created when missing."""
        rw = not request.read_only
        if request.is_volume:
            name = request.source or recorded_name
            volume = self.volumes.create(name or None, labels=dict(request.labels), anonymous=request.is_anonymous)
            return {"Type": "volume", "Name": volume.name, "Source": volume.mountpoint,
                    "Destination": request.destination, "Driver": "local", "Mode": "z", "RW": rw,
                    "Propagation": ""}
        if not os.path.exists(request.source):
            raise InvalidArgument(f"invalid mount config: bind source path does not exist: {request.source}")
        return {"Type": "bind", "Source": request.source, "Destination": request.destination, "Mode": "",
                "RW": rw, "Propagation": "rprivate"}

    def _anonymous_volumes(self, container: Container) -> List[str]:
        """Names of the volumes made for this container (-v /path, image VOLUME)."""
        try:
            requests = container_spec.mount_requests(container.config, container.host_config)
        except InvalidArgument:
            return []
        recorded = {m.get("Destination"): m for m in container.data.get("Mounts") or []}
        names = [(recorded.get(r.destination) or {}).get("Name") for r in requests if r.is_anonymous]
        return [str(name) for name in names if name]

    def volume_users(self, name: str) -> List[str]:
        """Ids of the containers (running or not) that mount the named volume."""
        return [c.id for c in self.containers.all()
                if any(m.get("Name") == name for m in c.data.get("Mounts") or [])]

    def remove_volume(self, name: str, force: bool) -> None:
        """docker volume rm: refused while any container, also a stopped one, uses it.

        Raises:
            Conflict: "remove NAME: volume is in use - [ID]" (docker's words), even with force.
            NotFound: no such volume (not with force).
        """
        with self._volume_lock:
            self.volumes.remove(name, force, self.volume_users(name))

    def prune_volumes(self, filters: Dict[str, List[str]]) -> Tuple[List[str], int]:
        """docker volume prune: unused anonymous volumes (all unused ones with all=true)."""
        with self._volume_lock:
            return self.volumes.prune(lambda name: bool(self.volume_users(name)), filters)

    def _remove_anonymous_volumes(self, container: Container) -> None:
        """Remove the container's anonymous volumes that no other container uses."""
        with self._volume_lock:
            for name in self._anonymous_volumes(container):
                if any(user != container.id for user in self.volume_users(name)):
                    continue  # moby ignores "in use" here: another container shares it
                try:
                    self.volumes.remove(name)
                except RootlessError as exc:
                    logger.warning("can't remove volume %s of container %s: %s", name, container.id, exc)
                    continue
                self.events.publish("volume", "destroy", name, driver="local")

    def release_container(self, container: Container, volumes: bool) -> None:
        """After removal: off every network; anonymous volumes go with -v (docker rm -v)."""
        self.networks.disconnect_all(container.id)
        if volumes:
            self._remove_anonymous_volumes(container)

    # -- system -----------------------------------------------------------
    def version(self, api_version: str, min_api_version: str) -> Dict[str, Any]:
        """The body of GET /version."""
        details = {
            "ApiVersion": api_version, "MinAPIVersion": min_api_version, "Os": "linux",
            "Arch": go_arch(), "KernelVersion": platform.release(), "GitCommit": self.build_id,
            "GoVersion": "", "BuildTime": "", "Experimental": "false",
        }
        return {
            "Platform": {"Name": "rootless"},
            "Components": [
                {"Name": "Engine", "Version": rootless.__version__, "Details": details},
                {"Name": "crun", "Version": crun.runtime_version(self.settings.runtime),
                 "Details": {"Package": self.settings.runtime}},
            ],
            "Version": rootless.__version__,
            **{k: v for k, v in details.items() if k != "Experimental"},
        }

    def rootless_info(self) -> Dict[str, Any]:
        """What `rootless info` shows beyond docker's fields."""
        cgroup = self.host.cgroup
        return {
            "Version": rootless.__version__,
            "BuildID": self.build_id,
            "StorageRoot": self.paths.root,
            "RuntimeDir": self.paths.run,
            "Socket": self.paths.socket,
            "IdMappings": self.host.mapping.to_json(),
            "SingleIdMode": self.host.mapping.single_id,
            "StorageDriver": self.host.storage_driver,
            "CgroupMode": cgroup.mode,
            "CgroupManager": cgroup.manager,
            "CgroupControllers": cgroup.controllers,
            "CgroupLimits": cgroup.describe(),
            "NetworkBackend": self.host.network_backend,
            "OCIRuntime": self.settings.runtime,
            "OCIRuntimeVersion": crun.runtime_version(self.settings.runtime),
            "ConfigFile": self.settings.source or "(defaults)",
        }

    def container_counts(self) -> Dict[str, int]:
        """Containers by state, for /info."""
        return self.containers.counts()

    def image_count(self) -> int:
        return self.images.count()

    def info(self, api_version: str) -> Dict[str, Any]:
        """The body of GET /info."""
        cgroup = self.host.cgroup
        meminfo = _mem_total()
        runtime_path = crun.runtime_path(self.settings.runtime) or self.settings.runtime
        body: Dict[str, Any] = {
            "ID": _engine_id(self.paths), **self.container_counts(), "Images": self.image_count(),
            "Driver": self.host.storage_driver,
            "DriverStatus": [["Backing Filesystem", _fs_type(self.paths.root)],
                             ["Native Overlay", str(self.host.storage_driver == storage.OVERLAY).lower()]],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"],
                        "Authorization": None, "Log": ["json-file"]},
            "MemoryLimit": cgroup.limits_supported, "SwapLimit": False,
            "CpuCfsPeriod": cgroup.limits_supported, "CpuCfsQuota": cgroup.limits_supported,
            "CPUShares": cgroup.limits_supported, "CPUSet": False, "PidsLimit": cgroup.limits_supported,
            "IPv4Forwarding": True, "BridgeNfIptables": False, "BridgeNfIp6tables": False,
            "Debug": self.settings.log_level == "debug", "NFd": len(os.listdir("/proc/self/fd")),
            "OomKillDisable": False, "NGoroutines": 0, "SystemTime": rfc3339_now(),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs" if cgroup.limits_supported else "none",
            "CgroupVersion": "2" if cgroup.mode == "v2" else "1",
            "NEventsListener": self.events.listeners, "KernelVersion": platform.release(),
            "OperatingSystem": _os_name(), "OSVersion": _os_version(), "OSType": "linux",
            "Architecture": platform.machine(), "NCPU": os.cpu_count() or 1, "MemTotal": meminfo,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": _registry_config(self.settings),
            "GenericResources": None, "DockerRootDir": self.paths.root, "HttpProxy": "",
            "HttpsProxy": "", "NoProxy": "", "Name": socket.gethostname(), "Labels": [],
            "ExperimentalBuild": False, "ServerVersion": rootless.__version__,
            "Runtimes": {self.settings.runtime: {"path": runtime_path}},
            "DefaultRuntime": self.settings.runtime,
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                      "ControlAvailable": False, "Error": "", "RemoteManagers": None},
            "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "catatonit",
            "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": ""}, "InitCommit": {"ID": ""},
            "SecurityOptions": ["name=seccomp,profile=builtin", "name=rootless", "name=no-new-privileges"],
            "CDISpecDirs": [], "Warnings": self._warnings(),
            "Rootless": self.rootless_info(),
        }
        return body

    def _warnings(self) -> List[str]:
        warnings = []
        if self.host.mapping.single_id:
            warnings.append("WARNING: no subuid/subgid range: single-uid mode, image file owners collapse to you")
        if not self.host.cgroup.limits_supported:
            warnings.append(f"WARNING: {self.host.cgroup.describe()}")
        return warnings


def _engine_id(paths: Paths) -> str:
    path = os.path.join(paths.root, "engine-id")
    existing = fs.read_json(path)
    if existing:
        return str(existing)
    engine_id = os.urandom(16).hex()
    fs.atomic_write_json(path, engine_id)
    return engine_id


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _os_release() -> Dict[str, str]:
    values: Dict[str, str] = {}
    try:
        with open("/etc/os-release") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                values[key] = value.strip('"')
    except OSError:
        pass
    return values


def _os_name() -> str:
    return _os_release().get("PRETTY_NAME", "Linux")


def _os_version() -> str:
    return _os_release().get("VERSION_ID", "")


def _fs_type(path: str) -> str:
    """The filesystem type holding path, from the longest matching mount point."""
    best, fstype = "", "unknown"
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and (path == parts[1] or path.startswith(parts[1].rstrip("/") + "/")):
                    if len(parts[1]) >= len(best):
                        best, fstype = parts[1], parts[2]
    except OSError:
        pass
    return fstype


def _registry_config(settings: Settings) -> Dict[str, Any]:
    return {
        "AllowNondistributableArtifactsCIDRs": None,
        "AllowNondistributableArtifactsHostnames": None,
        "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"],
        "IndexConfigs": {name: {"Name": name, "Mirrors": settings.registry_mirrors.get(name, []),
                                "Secure": False, "Official": False}
                         for name in settings.insecure_registries},
        "Mirrors": settings.registry_mirrors.get("docker.io", []),
    }
