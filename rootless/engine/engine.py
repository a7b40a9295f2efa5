"""The Engine: owns the stores and managers and answers system-wide questions."""
from __future__ import annotations

import logging
import os
import platform
import socket
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

import rootless
from rootless.config import STORE_VERSION, Paths, Settings
from rootless.config.paths import hooks_dirs
from rootless.engine.container_runtime import ContainerHost, HostRuntime, RuntimeHost
from rootless.engine.container_volumes import ContainerVolumes
from rootless.engine.containers import Containers
from rootless.engine.build import BuildService
from rootless.engine import image_convert, log_drivers
from rootless.engine.events import EventBus
from rootless.engine.execs import ExecService
from rootless.engine.health import HealthChecks
from rootless.engine.images import ImageService
from rootless.errors import FailedPrecondition
from rootless.images.store import ImageStore
from rootless.engine.container_networks import ContainerNetworks, shared_uplink
from rootless.networks.store import Network, NetworkStore
from rootless.volumes.store import VolumeStore
from rootless.runtime import cdi, crun, storage
from rootless.runtime import spec as runtime_spec
from rootless.runtime.storage import get_driver
from rootless.host.cgroups import CgroupInfo
from rootless.host.userns import Mapping
from rootless.util import fs
from rootless.util.build import build_id
from rootless.wire.times import NANO, now_rfc3339

logger = logging.getLogger(__name__)

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
        self.networks = NetworkStore(paths)
        spec_host = runtime_spec.HostFacts.detect()
        self.runtime = HostRuntime(paths, self.image_store, get_driver(host.storage_driver, paths), RuntimeHost(
            host.mapping, host.cgroup, spec_host, settings.runtime, settings.log_level, settings.monitor))
        self.containers = Containers(
            paths, self.runtime, self.events, self.images, ContainerVolumes(self.volumes, self.events),
            self.networks, ContainerHost(host.storage_driver, host.network_backend, host.cgroup, spec_host,
                                         tuple(hooks_dirs()), settings.runtime),
            ContainerNetworks(self.networks, os.path.join(paths.run, "netns"),
                              uplink=shared_uplink(host.network_backend)))
        self.execs = ExecService(self.runtime, self.containers, spec_host.last_cap)
        self.containers.health = HealthChecks(self.containers, self.execs)  # before adopt: probes resume
        self.images.image_users = lambda image_id: [
            (c.id, c.running) for c in self.containers.using_image(image_id)]
        self.images.forget_file = self.runtime.squash.forget
        self.containers.adopt()
        # Images kept as squashfs files (issue 15): a killed conversion or rmi is finished or rolled back.
        image_convert.settle(self.images, [r.image_id for r in self.image_store.list()
                                           if self.images.image_users(r.image_id)])
        self.runtime.release_unused_images()  # mounts a killed daemon left with no container on them
        self.builds = BuildService(
            paths, self.image_store, self.images, self.events, self.containers, self.runtime, host.cgroup)
        self.builds.remove_leftovers()

    def close(self) -> None:
        """Release what the engine holds; containers keep running under their monitors."""
        self.containers.close()
        logger.info("engine closed")

    # -- volumes and networks as containers use them -------------------------
    def volume_users(self, name: str) -> List[str]:
        """Ids of the containers (running or not) that mount the named volume."""
        return self.containers.volume_users(name)

    def remove_volume(self, name: str, force: bool) -> None:
        """docker volume rm: refused with docker's 409 while any container, also a stopped one, uses it."""
        self.containers.remove_volume(name, force)

    def prune_volumes(self, filters: Dict[str, List[str]]) -> Tuple[List[str], int]:
        """docker volume prune: unused anonymous volumes (all unused ones with all=true); destroy events."""
        return self.containers.prune_volumes(filters)

    def remove_network(self, ref: str) -> Network:
        """docker network rm: the record, then its bridge in the shared namespace."""
        network = self.networks.remove(ref)
        if self.containers.wiring is not None:
            self.containers.wiring.remove_bridge(network.network_id)
        return network

    def prune_networks(self, filters: Dict[str, List[str]]) -> List[str]:
        """docker network prune: custom networks no container is on; a destroy event for each."""
        before = {n.name: n.network_id for n in self.networks.list()}
        deleted = self.networks.prune(filters)
        for name in deleted:
            if self.containers.wiring is not None and name in before:
                self.containers.wiring.remove_bridge(before[name])
            self.events.publish("network", "destroy", before.get(name, name), name=name, type="bridge")
        return deleted

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
            # the shared namespace's (bridge and user networks); "" before it is made
            "NetworkUplink": self.containers.wiring.uplink_in_use() if self.containers.wiring else "",
            "OCIRuntime": self.settings.runtime,
            "Monitor": self.runtime.supervisor.monitor,  # conmon or python (the `monitor` setting resolved)
            "OCIRuntimeVersion": crun.runtime_version(self.settings.runtime),
            "ConfigFile": self.settings.source or "(defaults)",
            "ConfigDigest": self.settings.source_digest,  # the CLI warns when the file changed since
            "ConfigWarnings": list(self.settings.warnings),
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
                        "Authorization": None, "Log": log_drivers.available()},
            **cgroup_features(cgroup),
            "IPv4Forwarding": True, "BridgeNfIptables": False, "BridgeNfIp6tables": False,
            "Debug": self.settings.log_level == "debug", "NFd": len(os.listdir("/proc/self/fd")),
            "OomKillDisable": False, "NGoroutines": 0, "SystemTime": now_rfc3339(NANO),
            "LoggingDriver": "json-file",
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
            "CDISpecDirs": list(cdi.SPEC_DIRS), "Warnings": self._warnings(),
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


def cgroup_features(cgroup: CgroupInfo) -> Dict[str, Any]:
    """/info's limit flags: true only for what a delegated controller enforces (docker's sysinfo),
    and CgroupDriver: the manager crun uses (systemd | cgroupfs), "none" where limits are refused."""
    def has(controller: str) -> bool:
        return cgroup.limits_supported and controller in cgroup.controllers

    return {"CgroupDriver": cgroup.manager if cgroup.limits_supported else "none",
            "MemoryLimit": has("memory"), "SwapLimit": has("memory"), "KernelMemory": False,
            "CpuCfsPeriod": has("cpu"), "CpuCfsQuota": has("cpu"), "CPUShares": has("cpu"),
            "CPUSet": has("cpuset"), "PidsLimit": has("pids")}


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
