"""Containers: records, the state machine and its events, in one service.

States follow docker's: created -> running -> exited (-> running again on
start or by the restart policy) -> removing -> gone. Each running container has
a monitor process (runtime/monitor.py) that owns its stdio and exit status, so
it keeps running when the daemon stops; a starting daemon re-adopts it.

Everything outside the records comes in through the constructor: the runtime
(engine/container_runtime.py: rootfs and processes), images to create from,
volumes and networks. The engine wires them (engine/engine.py); unit tests
inject a fake runtime (tests/unit/engine/fake_runtime.py).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import shutil
import signal as signals
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Protocol, Set, Tuple

from rootless.api import types
from rootless.config import Paths
from rootless.engine import container_namespaces, container_plan, container_spec, container_userns, lifecycle
from rootless.engine.container_io import AttachSession
from rootless.engine.container_networks import AttachPlan, ContainerNetworks, removed_networks
from rootless.engine.container_model import PLAN_KEY, Container, new_record, now_rfc3339
from rootless.engine.container_reads import ContainerReads
from rootless.engine.container_runtime import ContainerHost, ContainerRuntime, MonitorSettings
from rootless.engine.container_trash import ContainerTrash
from rootless.engine.container_volumes import ContainerVolumes, anonymous_names
from rootless.engine.events import GONE_CHECK_INTERVAL, ClientGone, EventBus
from rootless.engine.health import HealthChecks
from rootless.engine import endpoints, health_config, image_platform
from rootless.engine import mount_sources
from rootless.engine.links import LegacyLinks
from rootless.engine.names import random_name, validate_name
from rootless.errors import (Conflict, FailedPrecondition, InvalidArgument, NotFound, NotModified,
                             RootlessError, ToolError)
from rootless.images.crashpoint import crash_point
from rootless.images.store import ImageRecord
from rootless.networks.store import Endpoint, EndpointDetails, Network, NetworkStore
from rootless.runtime import spec as runtime_spec
from rootless.runtime.supervisor import Launched
from rootless.util import fs, threads
from rootless.util.fs import dir_size
from rootless.wire import filters as wire_filters
from rootless.wire.times import parse_rfc3339_ns

logger = logging.getLogger(__name__)

ID_RE = re.compile(r"^[0-9a-f]+$")
BUILTIN_NETWORK_MODES = ("bridge", "default", "host", "none")
STOP_KILL_WAIT = 30.0  # after SIGKILL: the monitor reports the exit within this
KILL_WAIT = 10.0  # docker kill (SIGKILL) returns once the container stopped, or after this
SIGNAL_RACE_WAIT = 2.0  # a signal that found the process gone: its exit is recorded within this


class ExitGate:
    """Holds a start's exit watcher back until start() is done with the container.

    The watcher's thread starts before `crun start` (threads.start_soon: its start and first
    reads then overlap crun's run, not the start's answer; bench/README.md, starttrim: 0.3 ->
    0.1 ms from crun start's exit to the answer). It waits here before acting on an exit, so
    that "die" never comes before "start" is recorded and published, and it acts on none when
    the start failed (_start_failed settled that one).
    """

    def __init__(self) -> None:
        self._done = threading.Event()
        self._started = False

    def open(self, started: bool) -> None:
        """The start's outcome; the first call decides (the start thread alone calls it)."""
        if not self._done.is_set():
            self._started = started
            self._done.set()

    def wait(self) -> bool:
        """Whether the start succeeded, once start() has said."""
        self._done.wait()
        return self._started


class ImageSource(Protocol):
    """Where create finds its image (engine/images.py ImageService)."""

    def get(self, name: str) -> ImageRecord:
        """The image by tag, digest, id or id prefix; NotFound "No such image: ref"."""

    def image_size(self, record: ImageRecord) -> int:
        """Its unpacked size (a container's SizeRootFs counts it)."""


class AttachWaiter(Protocol):
    """An attach that waits for the container's next start (engine/container_io.py)."""

    def connect(self) -> None:
        """The container is created: connect to its monitor before its process runs."""

    def cancel(self) -> None:
        """The start failed: stop waiting."""


class _WiringAhead:
    """The start's network plan (ContainerNetworks.plan_attach: a store read, the bridges, the
    veths' specs), made in the start's thread while `crun create` runs (the runtime's
    while_creating): only the kernel's part is left between `crun create` and `crun start`.
    A failure is raised where the wiring would have failed, which kills the created
    container (Containers._wire_user_networks)."""

    def __init__(self, wiring: Optional[ContainerNetworks], container: Container) -> None:
        self._wiring = wiring
        self._container = container
        self._plan: Optional[AttachPlan] = None
        self._error: Optional[Exception] = None

    def plan(self) -> None:
        if self._wiring is None:
            return
        try:
            self._plan = self._wiring.plan_attach(self._container)
        except Exception as exc:  # noqa: BLE001 - raised after crun create (result)
            self._error = exc

    def result(self) -> Optional[AttachPlan]:
        """The plan (None: not made, attach_all makes it); the planning's error raised again."""
        if self._error is not None:
            raise self._error
        return self._plan


class Containers(ContainerReads):
    """Owns every container record, its transitions and its events; one per engine."""

    def __init__(self, paths: Paths, runtime: ContainerRuntime, events: EventBus, images: ImageSource,
                 volumes: ContainerVolumes, networks: NetworkStore, host: ContainerHost,
                 wiring: Optional[ContainerNetworks] = None) -> None:
        self.paths = paths
        self.runtime = runtime
        self.events = events
        self.images = images
        self.volumes = volumes
        self.networks = networks
        self.host = host
        self.wiring = wiring  # user networks' plumbing; None: they are records only (unit tests)
        self.links = LegacyLinks(self.get, networks)
        self._lock = threading.RLock()  # the records and their conditions
        self._changed = threading.Condition(self._lock)
        # Waiters for condition=removed (every `run --rm`) wake only at removals, not at each
        # start and exit of every container: each needless wake-up costs a GIL hand-off.
        self._gone = threading.Condition(self._lock)
        self._start_lock = threading.RLock()  # one start at a time; the attach queue
        self._containers: Dict[str, Container] = {}
        self._exit_generation: Dict[str, int] = {}
        self._removed: Set[str] = set()
        self._attach_waiting: Dict[str, List[AttachWaiter]] = {}
        self._manually_stopped: Set[str] = set()
        # Held while a policy restart decides and starts, and while stop/rm cancel one: a stop
        # then either cancels the restart before it starts or finds the container running.
        self._restart_guard = threading.Lock()
        self._closing = False
        self.health: Optional[HealthChecks] = None  # set by the engine once execs exist
        self.trash = ContainerTrash(paths.containers)
        self._load_all()
        self.trash.empty_at_start(self._containers)  # what killed removals and creates left
        self.networks.drop_orphans(self._containers)  # endpoints a killed daemon left without a container
        self.runtime.drop_orphans(self._containers)  # and monitor dirs (a removal killed after its rename)
        container_spec.drop_etc_orphans(paths.etc_files, self._containers)  # and /etc files (the same)

    # -- records ----------------------------------------------------------------
    def _load_all(self) -> None:
        fs.ensure_dir(self.paths.containers)
        for container_id in os.listdir(self.paths.containers):
            if container_id.startswith("."):  # the trash
                continue
            record = Container.load(self.paths, container_id)
            if record is not None:
                record.exec_ids = []  # exec records live in memory, as moby's: none outlives its daemon
                self._containers[container_id] = record

    def all(self) -> List[Container]:
        with self._lock:
            return sorted(self._containers.values(), key=lambda c: c.created, reverse=True)

    def exists(self, container_id: str) -> bool:
        with self._lock:
            return container_id in self._containers

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

    def _named(self, name: str) -> Optional[Container]:
        return next((c for c in self._containers.values() if c.name == name), None)

    def counts(self) -> Dict[str, int]:
        with self._lock:
            states = [c.status for c in self._containers.values()]
        running = sum(1 for s in states if s in ("running", "restarting"))
        paused = sum(1 for s in states if s == "paused")
        return {"Containers": len(states), "ContainersRunning": running, "ContainersPaused": paused,
                "ContainersStopped": len(states) - running - paused}

    def using_image(self, image_id: str) -> List[Container]:
        with self._lock:
            return [c for c in self._containers.values() if c.image_id == image_id]

    def volume_users(self, name: str) -> List[str]:
        """Ids of the containers (running or not) that mount the named volume."""
        return [c.id for c in self.all() if any(m.name == name for m in c.mount_points())]

    def save_health(self, container: Container, health: Optional[Dict[str, Any]]) -> bool:
        """Record State.Health (engine/health.py); False once the container is removed."""
        with self._lock:
            if container.id not in self._containers:
                return False
            container.health = health
            container.save()
            return True

    def _health_started(self, container: Container, adopted: bool = False) -> None:
        if self.health is not None:
            self.health.started(container, adopted)

    # -- events -----------------------------------------------------------------
    def publish(self, container: Container, action: str, **extra: str) -> None:
        attributes = {**container.labels, "image": container.image_ref, "name": container.name, **extra}
        self.events.publish("container", action, container.id, **attributes)

    # -- create -----------------------------------------------------------------
    def create(self, request: types.ContainerCreate, name: Optional[str], platform: Optional[str] = None) -> Container:
        """Create a container from an image that must already be in the store.

        The request was decoded and checked at the API edge (api/decode.py);
        what this host cannot do is refused here, before anything is made.

        Raises:
            NotFound: the image or the network is not there ("No such image: ref").
            Conflict: the name is in use.
            InvalidArgument / FailedPrecondition: the host can't do what is asked.
        """
        if not request.Image:
            raise InvalidArgument("config: Image is required")
        request = container_namespaces.resolve_request(request, self.get)  # container:X -> X's id
        image = self.images.get(request.Image)
        container_id = os.urandom(32).hex()
        whole_config = image.config.to_json() if hasattr(image.config, "to_json") else {}
        image_platform.check_platform(request.Image, whole_config, platform)  # docker's 404 for another platform
        image_config = whole_config.get("config", {})
        data = new_record(container_id, "", request, image.image_id, image_config, self.host.storage_driver,
                          self.paths)
        self._check_host_config(Container(self.paths, data))
        endpoints.check_networks(self.networks, Container(self.paths, data).network_mode,
                                 _requested(request), request.MacAddress)
        self.links.check(Container(self.paths, data),
                         [link for s in _requested(request).values() if s for link in s.Links or []])
        data[PLAN_KEY] = self._make_plan(Container(self.paths, data))  # refused here, before anything is made
        record = self._reserve(name, lambda chosen: Container(self.paths, {**data, "Name": "/" + chosen}))
        try:
            self._prepare(record, image, request.NetworkingConfig or types.NetworkingConfig())
            crash_point("container-create:after-connect")  # the endpoints exist, the record not yet
            record.save()
        except BaseException:
            with self._lock:
                self._containers.pop(container_id, None)
            shutil.rmtree(record.dir, ignore_errors=True)
            raise
        self.publish(record, "create")
        return record

    def _reserve(self, name: Optional[str], make: Callable[[str], Container]) -> Container:
        """Take the name (or a random one) for the new record, atomically with the check."""
        with self._lock:
            if name:
                name = validate_name(name)
                other = self._named(name)
                if other is not None:
                    raise Conflict(
                        f'Conflict. The container name "/{name}" is already in use by container "{other.id}". '
                        "You have to remove (or rename) that container to be able to reuse that name."
                    )
            else:
                name = random_name(lambda n: self._named(n) is not None)
            record = make(name)
            fs.make_dir(record.dir)  # one mkdir(2): containers/ is there since the daemon started
            self._containers[record.id] = record
            return record

    def _check_host_config(self, record: Container) -> None:
        """Refuse at create what this host cannot do (limits without cgroups, unknown networks),
        on the HostConfig as it will be recorded."""
        container_spec.check_limits(record, self.host.cgroup)
        container_spec.check_ulimits(record, self.host.spec_host)
        mode = record.network_mode
        if container_spec.is_own_uplink(mode):
            container_spec.own_uplink_setup(record, mode)  # its options, refused now rather than at start
        elif mode not in BUILTIN_NETWORK_MODES and container_namespaces.other(mode) is None:
            self.networks.get(mode)  # NotFound "network x not found", as docker says

    def _prepare(self, container: Container, image: ImageRecord, networking: types.NetworkingConfig) -> None:
        """The plan, made once: volumes for the container's life, its rootfs, its networks."""
        try:
            shift = container_userns.rootfs_shift(container_userns.keep_id_of(container))
            self.volumes.resolve_volumes_from(container, self.get)
            requests = container_spec.mount_requests(container)
            made: List[Dict[str, Any]] = []
            container.mounts = made  # filled as volumes are made: a failed create removes them
            self.volumes.mount_points(requests, {}, made)
            self.runtime.prepare_rootfs(container.id, image, shift, durable=not container.auto_remove)
            self._attach_at_create(container, networking)
        except BaseException:
            self.networks.disconnect_all(container.id)  # a later endpoint failed: nothing half-made stays
            self._remove_anonymous_volumes(container)
            raise

    def _attach_at_create(self, container: Container, networking: types.NetworkingConfig) -> None:
        """The container's network attachments, recorded (the plumbing reads them at start)."""
        links = self.links.normalized(container)
        if links is not None:
            container.host_config["Links"] = links
        mode = container.network_mode
        if container_namespaces.other(mode) is not None:
            container.drop_attachment(mode)  # another container's network: dockerd shows no attachment either
            return
        if mode in ("host", "none") or container_spec.is_own_uplink(mode):
            container.drop_attachment(mode)  # shown by its backend's name, without the options
            container.set_attachment(mode.partition(":")[0], {})
            return
        name = "bridge" if mode == "default" else mode
        configs = networking.EndpointsConfig or {}
        keys = (name, "default") if name == "bridge" else (name,)
        requested = next((configs[k] for k in keys if configs.get(k)), None) or types.EndpointSettings()
        endpoints.check_user_defined(name, requested)  # no --ip, --ip6, --network-alias on bridge
        self._connect_at_create(container, name, requested, container.mac_address)
        for name, settings in (networking.EndpointsConfig or {}).items():
            if name != mode and name not in BUILTIN_NETWORK_MODES:  # API 1.44: more networks at create
                self._connect_at_create(container, name, settings or types.EndpointSettings())

    def _connect_at_create(self, container: Container, name: str, settings: types.EndpointSettings,
                           config_mac: str = "") -> None:
        """One endpoint of a new container, recorded in it; its address comes at start
        (container_networks.assign_addresses) unless the request gives one (--ip)."""
        address = (settings.IPAMConfig.IPv4Address if settings.IPAMConfig else "") or None
        network = self.networks.get(name)
        endpoint = self.networks.connect(network.network_id, container.id, container.name, settings.Aliases or [],
                                         address, endpoints.details_of(settings, config_mac), allocate=False,
                                         ephemeral=container.auto_remove)
        container.set_attachment(network.name, endpoint_settings(network, endpoint))

    # -- networks ---------------------------------------------------------------
    def connect_network(self, container: Container, network_ref: str, aliases: List[str],
                        address: Optional[str], details: Optional[EndpointDetails] = None) -> None:
        """docker network connect: the endpoint, recorded in the container at once."""
        container_namespaces.check_connectable(container)
        network = self.networks.get(network_ref)
        if network.name in container.attachments():  # also the network it was created on (NetworkMode)
            raise Conflict(f"endpoint with name {container.name} already exists in network {network.name}")
        # a stopped container gets its address at start, as from dockerd
        endpoint = self.networks.connect(network.network_id, container.id, container.name, aliases, address,
                                         details, allocate=container.running, ephemeral=container.auto_remove)
        with self._lock:
            container.set_attachment(network.name, endpoint_settings(network, endpoint))
            container.save()
        self._wire_live(container, lambda wiring: wiring.attach(container, container.pid,
                                                                self.networks.get(network.network_id)),
                        undo=lambda: self._undo_connect(container, network))
        self.events.publish("network", "connect", network.network_id, container=container.id,
                            name=network.name, type="bridge")

    def disconnect_network(self, container: Container, network_ref: str, force: bool) -> None:
        """docker network disconnect: off the network and out of the container's record."""
        if not container.running and network_ref in removed_networks(self.networks, container):
            with self._lock:  # its network was removed while it was stopped: dockerd lets it leave by name
                container.drop_attachment(network_ref)
                container.save()
            return
        network = self.networks.get(network_ref)
        if network.name not in container.attachments() and container.id not in network.endpoints:
            raise endpoints.not_connected(container.id, network.name, container.running, force, container.name)
        if network.name in container.attachments() and network.name in ("host", "none"):
            # host and none have no endpoint to leave: every start gives the container that mode
            raise FailedPrecondition(f"disconnect {container.name} from {network.name}: "
                                     "the network the container was created on can't be left yet",
                                     hint="create the container with another --network instead")
        # bridge too, as from dockerd: a running container loses its veth at once, and
        # it starts without that network from now on (its record has no attachment)
        self._wire_live(container, lambda wiring: wiring.detach(container, network))
        # a bridge endpoint of a record from before the shared bridge may be missing: fine
        self.networks.disconnect(network.network_id, container.id, force or network.name in container.attachments())
        with self._lock:
            container.drop_attachment(network.name)
            container.save()
        self.events.publish("network", "disconnect", network.network_id, container=container.id,
                            name=network.name, type="bridge")

    def _wire_live(self, container: Container, change: Callable[[ContainerNetworks], None],
                   undo: Callable[[], None] = lambda: None) -> None:
        """connect/disconnect of a running container take effect at once (its veths and DNS names)."""
        with self._start_lock:  # not while a start wires it
            if self.wiring is None or not container.running or not container.pid:
                return
            try:
                change(self.wiring)
            except BaseException:
                undo()
                raise
            with self._lock:
                container.save()

    def _undo_connect(self, container: Container, network: Network) -> None:
        self.networks.disconnect(network.network_id, container.id, force=True)
        with self._lock:
            container.drop_attachment(network.name)
            container.save()

    # -- start ------------------------------------------------------------------
    def start(self, container: Container) -> None:
        """Start a created or exited container.

        Raises:
            NotModified: it is already running.
            ToolError / InvalidArgument: the runtime refused (recorded in State.Error).
        """
        gate = ExitGate()
        try:
            with self._start_lock:
                if container.running:
                    raise NotModified("container already started")
                self._manually_stopped.discard(container.id)
                try:
                    launched = self._launch(container, gate)
                except RootlessError as exc:
                    error = lifecycle.docker_start_error(exc)
                    self._start_failed(container, error)
                    raise error from None
                self._mark_started(container, launched)
            self.publish(container, "start")
            self._health_started(container)
            gate.open(True)
        finally:
            gate.open(False)  # a failed start: its watcher (if started) acts on no exit

    def _mark_started(self, container: Container, launched: Launched) -> None:
        """Record the running container: start's last step (see _settle_interrupted_start).

        A --rm container's record is not written here: it is removed when it stops, and a
        daemon killed while it runs finds its live monitor from the record it has ("created")
        as it would after a kill in the middle of a start, and adopts it as running.
        """
        with self._lock:
            container.set_internal("ports", list(launched.ports))
            container.set_state("running", Pid=launched.pid, StartedAt=now_rfc3339(), ExitCode=0, Error="",
                                FinishedAt="0001-01-01T00:00:00Z", OOMKilled=False)
            if not container.auto_remove:
                container.save()
            self._changed.notify_all()

    # -- the plan ---------------------------------------------------------------
    def _make_plan(self, container: Container) -> Dict[str, Any]:
        return container_plan.make_plan(container, self.host.network_backend, self.host.cgroup, self.host.spec_host)

    def replan(self, container: Container) -> Dict[str, Any]:
        """Make and store the container's plan again after its record changed.

        The plug-in point for what changes a created container (docker update's
        limits, build's RUN containers, user networks): change the record, replan.
        """
        plan = self._make_plan(container)
        with self._lock:
            container.data[PLAN_KEY] = plan
            container.save()
        return plan

    def _launch(self, container: Container, gate: ExitGate) -> Launched:
        plan = container_plan.stored_plan(container) or self.replan(container)  # once for an older record
        rootfs = self.runtime.mount(container.id)
        network = container_plan.network_of(plan)
        network = (self.wiring.setup_for_start(container, network) if self.wiring is not None
                   else container_spec.user_network_setup(container, network))
        options = self._spec_options(container, plan, rootfs, network)
        monitor = MonitorSettings(
            log_path=container.log_path, log_max_size=lifecycle.log_size(container),
            log_max_files=lifecycle.log_files(container), tty=container.tty,
            open_stdin=container.open_stdin,
            # moby closes stdin at the attach's end only without a TTY (CloseStdin && !TTY in
            # container/stream/attach.go): `run -it` then ctrl-p ctrl-q leaves the shell running.
            stdin_once=container.stdin_once and not container.tty,
            network=network.monitor_mode, ports=network.ports, allow_host_loopback=network.host_loopback,
            pasta_options=list(network.pasta_options),
            log_settings=lifecycle.log_settings(container).to_json())
        user = network.monitor_mode == container_spec.USER_NETWORK
        if user:  # the monitor makes no network; the engine wires it once the namespace exists
            monitor = dataclasses.replace(monitor, network="none", ports=[])
        pins = mount_sources.Pins()
        wired = network.mode == "private"  # host, none (NetworkDisabled too) and container: get no veths
        ahead = _WiringAhead(self.wiring if wired else None, container)
        try:
            options = self._with_mount_sources(container, options, pins)
            launched = self.runtime.launch(container.id, options, monitor, while_creating=ahead.plan)
        finally:
            pins.release()  # crun created the container: its mount namespace has its own copies
        if wired:
            launched = self._wire_user_networks(container, launched, network.ports, ahead)
        for session in self._take_waiting(container.id):
            session.connect()
        self._watch(container, gate)  # before crun start: see ExitGate
        self.runtime.start(container.id)
        return launched

    def _wire_user_networks(self, container: Container, launched: Launched,
                            ports: List[Dict[str, Any]], ahead: "_WiringAhead") -> Launched:
        """Between `crun create` and `crun start`: veths, DNS names and published ports, as
        planned while `crun create` ran (ahead)."""
        if self.wiring is None:
            return launched
        try:
            published = self.wiring.attach_all(container, launched.pid, ports
                                               if self._on_user_network(container) else [], ahead.result())
        except BaseException:
            with contextlib.suppress(RootlessError):
                self.runtime.signal(container.id, signals.SIGKILL)
            raise
        return dataclasses.replace(launched, ports=published) if self._on_user_network(container) else launched

    @staticmethod
    def _on_user_network(container: Container) -> bool:
        return container_spec.network_setup(container, "auto").monitor_mode == container_spec.USER_NETWORK

    def _spec_options(self, container: Container, plan: Dict[str, Any], rootfs: str,
                      network: container_spec.NetworkSetup) -> runtime_spec.SpecOptions:
        """The plan with what exists only now: the rootfs, the /etc files, the volumes' paths."""
        etc_files = container_spec.write_etc_files(container, network)
        mounts = self._mounts(container, rootfs)
        options = container_plan.spec_options(plan, rootfs, etc_files, mounts, self.host.cgroup,
                                              list(self.host.hooks_dirs))
        options = dataclasses.replace(options, **container_namespaces.at_start(container, self.get))
        options = container_userns.apply(container, options)
        options = self._with_links(container, options, etc_files["/etc/hosts"])
        container_spec.ensure_workdir(rootfs, options.cwd)
        return options

    def _with_links(self, container: Container, options: runtime_spec.SpecOptions,
                    hosts_path: str) -> runtime_spec.SpecOptions:
        """Legacy links at start: hosts lines, and (default bridge) the link variables the
        container's own environment does not set (moby's CreateDaemonEnvironment order)."""
        added = self.links.at_start(container, {name: list(e.links or [])
                                                for name, e in container.endpoints().items()})
        if added.hosts:
            with open(hosts_path, encoding="utf-8") as f:
                fs.atomic_write(hosts_path, f.read() + "".join(line + "\n" for line in added.hosts), 0o644)
        own = {item.partition("=")[0] for item in options.env}
        env = [item for item in added.env if item.partition("=")[0] not in own]
        return dataclasses.replace(options, env=[*env, *options.env]) if env else options

    def _with_mount_sources(self, container: Container, options: runtime_spec.SpecOptions,
                            pins: mount_sources.Pins) -> runtime_spec.SpecOptions:
        """Propagation checked on the sources (moby's rules); volume subpaths pinned for crun."""
        for mount in options.mounts:
            mount_sources.check_propagation(mount.source, mount_sources.propagation_of(mount.options))
        subpaths = {r.destination: r.subpath for r in container_spec.mount_requests(container) if r.subpath}
        if not subpaths:
            return options
        staged = mount_sources.sources_by_destination(subpaths, {m.destination: m.source for m in options.mounts},
                                                      self.paths.subpath_stage, container.id, pins)
        mounts = [dataclasses.replace(m, source=staged.get(m.destination, m.source)) for m in options.mounts]
        return dataclasses.replace(options, mounts=mounts)

    def remove_link(self, ref: str) -> None:
        """docker rm --link /parent/alias: the parent's link goes (its /etc/hosts at its next start)."""
        parent, kept = self.links.remove(ref)
        with self._lock:
            parent.host_config["Links"] = kept or None
            parent.save()

    def _mounts(self, container: Container, rootfs: str) -> List[runtime_spec.Mount]:
        """Binds and volumes as recorded at create; a record from before that gets them now, once."""
        requests = container_spec.mount_requests(container)
        recorded = {m.destination: m for m in container.mount_points()}
        if any(r.destination not in recorded for r in requests):
            made: List[Dict[str, Any]] = []
            self.volumes.mount_points(requests, recorded, made)
            with self._lock:
                container.mounts = made
                container.save()
            recorded = {m.destination: m for m in container.mount_points()}
        return self.volumes.spec_mounts(rootfs, requests, recorded)

    def _start_failed(self, container: Container, exc: RootlessError) -> None:
        """Record the failure like docker (exit 126/127/128) and release everyone waiting."""
        code = lifecycle.exit_code_for_start_error(exc.message)
        for session in self._take_waiting(container.id):
            session.cancel()
        self._unwire(container)
        self.runtime.teardown(container.id)
        container_namespaces.release(container)
        if lifecycle.is_port_conflict(exc.message):
            # docker never ran it: the container stays Created (State.Error says why), not Exited (128)
            self._mark_not_started(container, code, exc.message)
        else:
            self._mark_exited(container, code, error=exc.message)
        self.publish(container, "die", exitCode=str(code))
        if container.auto_remove:
            # docker run --rm waits for condition=removed, also after a failed start.
            with contextlib.suppress(RootlessError):
                self._remove_stopped(container, volumes=True)

    def _mark_not_started(self, container: Container, exit_code: int, error: str) -> None:
        with self._lock:
            container.set_state("created", ExitCode=exit_code, Error=error)
            container.save()
            self._exit_generation[container.id] = self._exit_generation.get(container.id, 0) + 1
            self._changed.notify_all()

    def _take_waiting(self, container_id: str) -> List[AttachWaiter]:
        with self._start_lock:
            return self._attach_waiting.pop(container_id, [])

    def attach_session(self, container: Container, *, stdin: bool, stdout: bool, stderr: bool,
                       logs: bool, stream: bool, detach_keys: Optional[str]) -> AttachSession:
        """docker attach: queued for the next start, or connected at once to a running container."""
        session = AttachSession(self, container, stdin=stdin, stdout=stdout, stderr=stderr, logs=logs,
                                detach_keys=detach_keys, stream=stream)
        session.register()
        return session

    def add_waiting_attach(self, container: Container, session: AttachWaiter) -> bool:
        """Queue an attach for the next start; False when it already runs (connect now).

        Checked under the start lock: docker sends attach, then start at once,
        and an attach queued after start took the queue would never connect.
        """
        with self._start_lock:
            if container.running:
                return False
            self._attach_waiting.setdefault(container.id, []).append(session)
            return True

    # -- exits and restart policies ---------------------------------------------
    def _mark_exited(self, container: Container, exit_code: int, finished_at: Optional[str] = None,
                     error: str = "", restarting: bool = False, oom: bool = False, save: bool = True) -> None:
        """save=False: a --rm container about to be removed. Its record still says "created" (it
        is written at create only, see _mark_started): a daemon killed before the removal has
        the next one settle it as an interrupted start, find its exit and remove it."""
        if self.health is not None:
            self.health.stopped(container)
        with self._lock:
            # docker's Restarting: the process is gone, the policy starts it again soon
            container.set_state("restarting" if restarting else "exited", ExitCode=exit_code,
                                FinishedAt=finished_at or now_rfc3339(), Error=error, OOMKilled=oom)
            if save:
                container.save()
            self._exit_generation[container.id] = self._exit_generation.get(container.id, 0) + 1
            self._changed.notify_all()

    def _unwire(self, container: Container, removing: bool = False) -> None:
        """The container's veths, names and forwards go with its process.

        removing (a --rm container's exit, its removal next): its veths (never reused: their
        names come from its id) may go after the answer, and its addresses go back to the
        pools with its endpoints at the removal, in one write of the network's record.
        """
        if self.wiring is None:
            return
        try:
            self.wiring.detach_all(container, wait=not removing, release=not removing)
        except RootlessError as exc:
            logger.warning("container %s: can't detach from its networks: %s", container.name, exc)

    def _watch(self, container: Container, gate: Optional[ExitGate] = None) -> None:
        # start_soon: a start's watcher begins between crun create and crun start, where
        # Thread.start's wait for the new thread would be on the start's path.
        threads.start_soon(self._wait_for_exit, (container, gate), f"wait-{container.id[:12]}")

    def _wait_for_exit(self, container: Container, gate: Optional[ExitGate] = None) -> None:
        exit_info = lifecycle.retry_out_of_fds(lambda: self.runtime.wait_exit(container.id), container.id)
        if gate is not None and not gate.wait():
            return  # the start failed and _start_failed settled the container
        if self._closing:
            return  # the daemon is stopping; the next one re-adopts
        lifecycle.retry_out_of_fds(lambda: self._on_exit(container, exit_info or {"ExitCode": 255}),
                                   container.id)

    def _on_exit(self, container: Container, exit_info: Dict[str, Any]) -> None:
        code = int(exit_info.get("ExitCode", 255))
        self._unwire(container, removing=container.auto_remove)
        if not container.auto_remove:  # a --rm one's rootfs and monitor go in its removal (release_rootfs)
            self.runtime.teardown(container.id)
        container_namespaces.release(container)
        policy, maximum_retries = container.restart_policy
        restart = not container.auto_remove and lifecycle.should_restart(
            policy, maximum_retries, code, container.restart_count, container.id in self._manually_stopped)
        # the monitor read the cgroup's memory.events oom_kill while the cgroup still existed
        self._mark_exited(container, code, exit_info.get("FinishedAt"), restarting=restart,
                          oom=bool(exit_info.get("OOMKilled")), save=not container.auto_remove)
        self.publish(container, "die", exitCode=str(code))
        if container.auto_remove:
            crash_point("container-exit:before-remove")
            try:
                self._remove_stopped(container, volumes=True)
            except RootlessError as exc:  # it stays: its addresses go back to the pools now
                logger.warning("container %s: --rm: can't remove it: %s", container.name, exc)
                with self._lock:
                    container.save()
                if self.wiring is not None:
                    with contextlib.suppress(RootlessError):
                        self.wiring.release_addresses(container)
            return
        if restart:
            threading.Thread(target=self._restart_later, args=(container,), daemon=True).start()

    def _restart_later(self, container: Container) -> None:
        count = container.restart_count
        time.sleep(lifecycle.restart_delay(count))
        with self._restart_guard:
            if self._closing or container.id in self._manually_stopped or container.status != "restarting":
                return
            if not self.exists(container.id):
                return
            container.restart_count = count + 1
            try:
                self.start(container)
                self.publish(container, "restart")
            except RootlessError as exc:
                logger.warning("restart of %s failed: %s", container.name, exc)

    # -- stop / kill / restart --------------------------------------------------
    def kill(self, container: Container, signal_value: str) -> None:
        if not container.running:
            raise Conflict(f"Cannot kill container: {container.name}: container {container.id} is not running")
        sig = lifecycle.parse_signal(signal_value)
        self._signal(container, sig)
        self.publish(container, "kill", signal=str(sig))
        if sig == signals.SIGKILL:
            # dockerd's Kill waits for the exit (daemon/kill.go, 10 s): an inspect or a
            # plain rm right after must see the container stopped.
            self._wait_stopped(container, KILL_WAIT)

    def _signal(self, container: Container, sig: int) -> None:
        try:
            self.runtime.signal(container.id, sig)
        except (ToolError, NotFound) as exc:
            # It may have exited between our check and the signal: its monitor records the exit
            # a moment later (a docker stop of a container that ends by itself succeeds).
            if container.running and self.runtime.is_alive(container.id) and not self._exit_recorded(container):
                raise
            logger.debug("kill %s: %s", container.id, exc)

    def _exit_recorded(self, container: Container) -> bool:
        """Whether the container's exit is (or within SIGNAL_RACE_WAIT gets) recorded."""
        try:
            self.wait(container, "next-exit", SIGNAL_RACE_WAIT)
            return True
        except Conflict:
            return not container.running

    def stop(self, container: Container, timeout: Optional[int], signal_value: Optional[str]) -> None:
        if self._cancel_restart(container):
            self.publish(container, "stop")
            return
        if not container.running:
            raise NotModified("container already stopped")
        self._manually_stopped.add(container.id)
        stop_signal = lifecycle.parse_signal(signal_value or container.stop_signal or "SIGTERM")
        if timeout is None:
            timeout = container.stop_timeout
        timeout = lifecycle.DEFAULT_STOP_TIMEOUT if timeout is None else int(timeout)
        self._signal(container, stop_signal)
        self.publish(container, "kill", signal=str(stop_signal))
        if not self._wait_stopped(container, timeout if timeout >= 0 else None):
            self._signal(container, signals.SIGKILL)
            self.publish(container, "kill", signal=str(int(signals.SIGKILL)))
            self._wait_stopped(container, STOP_KILL_WAIT)
        self.publish(container, "stop")

    def _cancel_restart(self, container: Container) -> bool:
        """Stop a container waiting for its policy's restart: it stays exited (docker stop/rm)."""
        with self._restart_guard:
            with self._lock:
                if container.status != "restarting":
                    return False
                self._manually_stopped.add(container.id)
            self._mark_exited(container, container.exit_code, container.finished_at)
        return True

    def _wait_stopped(self, container: Container, timeout: Optional[float]) -> bool:
        try:
            self.wait(container, "not-running", timeout)
            return True
        except Conflict:
            return False

    def restart(self, container: Container, timeout: Optional[int], signal_value: Optional[str]) -> None:
        with contextlib.suppress(NotModified):
            self.stop(container, timeout, signal_value)
        self.start(container)
        self.publish(container, "restart")

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
                return not container.state_running or container.id in self._removed  # restarting runs on

            changes = self._gone if condition == "removed" else self._changed
            while not done():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise Conflict(f"timed out waiting for container {container.id}")
                if client_gone():
                    raise ClientGone(f"wait for container {container.id}: the client hung up")
                changes.wait(timeout=GONE_CHECK_INTERVAL if remaining is None
                             else min(GONE_CHECK_INTERVAL, remaining))
            return {"StatusCode": container.exit_code,
                    "Error": {"Message": container.error} if container.error else None}

    # -- remove -----------------------------------------------------------------
    def remove(self, container: Container, force: bool, volumes: bool) -> None:
        if container.status == "restarting" and force:
            self._cancel_restart(container)
        if container.running or container.status == "restarting":
            if not force:
                raise Conflict(
                    f'cannot remove container "/{container.name}": container is running: '
                    "stop the container before removing or force remove"
                )
            self._manually_stopped.add(container.id)
            self._signal(container, signals.SIGKILL)
            self._wait_stopped(container, STOP_KILL_WAIT)
        self._remove_stopped(container, volumes)

    def _remove_stopped(self, container: Container, volumes: bool) -> None:
        """Remove the volumes, then one rename takes the container's dir out of the store
        (container_trash.py), its endpoints stop counting (NetworkStore.leave) and the waiters
        are answered; the endpoints' write, the rootfs's unmount and the monitor dir come
        after the answer (_disconnect_removed, _release_removed)."""
        container_namespaces.release(container)
        if volumes:
            self._remove_anonymous_volumes(container)
        doomed = self.trash.discard(container.dir)
        # Its endpoints stop counting before the answer (`docker network rm` may follow at
        # once) and are written away after it: the store's write is off the answer's path.
        self.networks.leave(container.id)
        with self._lock:
            container.set_state("removing")
            self._containers.pop(container.id, None)
            self._removed.add(container.id)
            self._changed.notify_all()
            self._gone.notify_all()
        self._disconnect_removed(container)
        self.publish(container, "destroy")
        if doomed is not None:  # None: a concurrent removal (rm -f of a --rm one) moved it and releases it
            self._release_removed(container, doomed)

    def _disconnect_removed(self, container: Container) -> None:
        """A removed container's endpoints written out of the store (NetworkStore.leave); one
        this fails to write stays hidden here and goes as an orphan at the next start."""
        try:
            self.networks.disconnect_all(container.id)
        except (RootlessError, OSError) as exc:
            logger.warning("container %s: removed, but can't write its endpoints away: %s", container.name, exc)

    def _release_removed(self, container: Container, doomed: str) -> None:
        """After the answer: what of a removed container is no longer in the API's view. Killed
        here, the next start finishes it: the trash unmounts what it deletes (container_trash.py),
        the monitor and /etc files' dirs of unrecorded containers go (drop_orphans). Its veths went
        at the exit (_on_exit) and its addresses stopped counting at the rename (NetworkStore.leave
        in _remove_stopped): an address released now could be a new container's already."""
        try:
            self.runtime.release_rootfs(container.id, moved_to=doomed)
        except RootlessError as exc:  # the trash's deletion tries again (and refuses a mount)
            logger.warning("container %s: removed, but can't release its rootfs: %s", container.name, exc)
        crash_point("container-rm:after-release")
        container_spec.remove_etc_files(container.etc_dir)
        self.trash.delete_later(doomed)

    def _remove_anonymous_volumes(self, container: Container) -> None:
        names = anonymous_names(container)
        self.volumes.remove_anonymous(container.id, names, self.volume_users)

    def prune(self, filters: Dict[str, List[str]]) -> Tuple[List[str], int]:
        """docker container prune: stopped containers matching label=, label!= and until=."""
        until_ns = wire_filters.get_until_ns(filters)
        removed = []
        for container in self.all():
            if container.running or not wire_filters.match_labels(filters, container.labels):
                continue
            if until_ns is not None and parse_rfc3339_ns(container.created) >= until_ns:
                continue
            size = dir_size(self.runtime.upper_dir(container.id))
            self._remove_stopped(container, False)
            removed.append((container.id, size))
        return [cid for cid, _ in removed], sum(size for _, size in removed)

    # -- volumes as containers use them -----------------------------------------
    def remove_volume(self, name: str, force: bool) -> None:
        """docker volume rm: refused with docker's 409 while any container uses it."""
        self.volumes.remove(name, force, self.volume_users)

    def prune_volumes(self, filters: Dict[str, List[str]]) -> Tuple[List[str], int]:
        return self.volumes.prune(filters, self.volume_users)

    # -- adoption after a daemon restart ----------------------------------------
    def adopt(self) -> None:
        """Pick up containers a previous daemon started; apply restart policies."""
        if self.wiring is not None and any(c.running and self.wiring.wired(c) for c in self.all()):
            self.wiring.adopt()  # their namespace outlived the daemon: its uplink and DNS too
        for container in self.all():
            if container.running:
                if self.runtime.is_alive(container.id):
                    self._watch(container)
                    self._health_started(container, adopted=True)
                    continue
                exit_info = self.runtime.read_exit(container.id) or {"ExitCode": 255}
                self._on_exit(container, exit_info)
            elif self._settle_interrupted_start(container):
                continue
            elif container.status == "restarting" or (
                    container.restart_policy[0] in lifecycle.RESTART_POLICIES_ON_DAEMON_START
                    and container.ever_started):
                with contextlib.suppress(RootlessError):
                    self.start(container)

    def _settle_interrupted_start(self, container: Container) -> bool:
        """Finish or undo a start() a killed daemon left between its steps; True if it ran.

        start() mounts, launches the monitor (crun create), has it run `crun start`,
        and only then records "running". Killed in between, the record still says
        created/exited while a mount, a monitor and maybe the process live on. A
        live monitor finishes the start (its start request is idempotent) and the
        container is adopted as running; one that already exited is recorded as
        exited; a mount or monitor dir without a monitor is removed.
        """
        if not self.runtime.has_leftovers(container.id):
            return False
        logger.info("container %s: settling a start a previous daemon did not finish", container.name)
        try:
            ready = self.runtime.resume_start(container.id)
        except RootlessError as exc:
            self._start_failed(container, lifecycle.docker_start_error(exc))
            return True
        if ready is not None:
            self._mark_started(container, ready)
            self.publish(container, "start")
            self._watch(container)
            self._health_started(container)
            return True
        exit_info = self.runtime.read_exit(container.id)
        if exit_info is not None:  # it ran and exited before the start was recorded
            self._on_exit(container, exit_info)
            return True
        self.runtime.teardown(container.id)
        return False

    def close(self) -> None:
        self._closing = True
        if self.health is not None:
            self.health.close()

    # -- other changes ----------------------------------------------------------
    def rename(self, ref: str, new_name: str) -> None:
        container = self.get(ref)
        new_name = validate_name(new_name)
        with self._lock:
            if self._named(new_name) is not None:
                raise Conflict(f'Conflict. The container name "/{new_name}" is already in use')
            old = container.name
            container.name = new_name
            container.save()
        self.publish(container, "rename", oldName="/" + old)

    def resize(self, container: Container, height: int, width: int) -> None:
        if not container.running:
            raise Conflict(f"container {container.id} is not running")
        if height and width:
            self.runtime.resize(container.id, height, width)

    def refuse_without_cgroups(self, what: str) -> None:
        cgroup = self.host.cgroup
        if not cgroup.limits_supported:
            raise FailedPrecondition(
                f"{what}: not supported on this host: {cgroup.describe()}",
                hint="cgroup v2 with controllers delegated to the user is required (see 'rootless doctor')",
            )

    def pause(self, container: Container) -> None:
        self.refuse_without_cgroups("pause")
        self.runtime.pause(container.id)
        with self._lock:
            container.set_state("paused")
            container.save()
        self.publish(container, "pause")

    def unpause(self, container: Container) -> None:
        self.refuse_without_cgroups("unpause")
        self.runtime.resume(container.id)
        with self._lock:
            container.set_state("running")
            container.save()
        self.publish(container, "unpause")

    def stats(self, container: Container, previous: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """One docker stats sample (previous: the sample before, whose cpu becomes precpu_stats)."""
        self.refuse_without_cgroups("stats")
        pid = container.pid
        if not container.running or not pid:
            raise Conflict(f"container {container.id} is not running")
        return self.runtime.stats(container.id, pid, container.name, previous)

    # -- docker update ----------------------------------------------------------
    def update(self, container: Container, request: types.ContainerUpdate) -> List[str]:
        """New limits and restart policy, recorded in HostConfig; a running container's limits change
        at once (crun update). A restart policy works on every host: the next exit follows it."""
        changes = {key: getattr(request, key) for key in container_spec.LIMIT_FIELDS
                   if getattr(request, key) not in (None, 0, "")}  # zero: leave as is (dockerd)
        policy = request.RestartPolicy
        if policy.Name and container.auto_remove:
            raise InvalidArgument("Restart policy cannot be updated because AutoRemove is enabled for the container")
        previous = {key: container.host_config.get(key) for key in changes}
        with self._lock:
            container.host_config.update(changes)
        try:
            container_spec.check_limits(container, self.host.cgroup)
            if changes and container.running:
                self.runtime.update(container.id, self._update_resources(container, request.PidsLimit))
        except RootlessError:
            with self._lock:  # nothing refused is kept
                container.host_config.update(previous)
            raise
        with self._lock:
            if policy.Name:
                container.host_config["RestartPolicy"] = {"Name": policy.Name,
                                                          "MaximumRetryCount": policy.MaximumRetryCount}
            container.save()
        if changes:
            self.replan(container)  # the stored plan carries the limits the next start applies
        self.publish(container, "update")
        return []

    def _update_resources(self, container: Container, pids_limit: Optional[int]) -> Dict[str, Any]:
        """linux.resources of every recorded limit, refused as at create where a controller is missing."""
        resources: Dict[str, Any] = dict(runtime_spec.update_resources(
            self.host.cgroup, **container_spec.limit_options(container)))
        if pids_limit is not None and pids_limit <= 0:
            resources["pids"] = {"limit": -1}  # docker's 0 or -1: no limit (crun writes "max")
        return resources

    # -- list -------------------------------------------------------------------
    def list(self, all_: bool, filters: Dict[str, List[str]], limit: Optional[int] = None) -> List[Container]:
        result = []
        for container in self.all():
            if not all_ and not container.state_running and "status" not in filters:
                continue
            if not matches_filters(container, filters, self):
                continue
            result.append(container)
        return result[:limit] if limit and limit > 0 else result


def endpoint_settings(network: Network, endpoint: Endpoint) -> Dict[str, Any]:
    """docker's EndpointSettings of one attachment, as the container's record keeps it."""
    return endpoints.settings_of(network, endpoint)


def _requested(request: types.ContainerCreate) -> Dict[str, Optional[types.EndpointSettings]]:
    return dict((request.NetworkingConfig.EndpointsConfig if request.NetworkingConfig else None) or {})


def _label_matches(labels: Dict[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in labels and (not sep or labels[key] == value)


def _health_value(value: str) -> str:
    if value not in health_config.FILTER_VALUES:
        raise InvalidArgument(f"Unrecognised filter value for health: {value}")
    return value


def matches_filters(container: Container, filters: Dict[str, List[str]], service: Containers) -> bool:
    checks: Dict[str, Callable[[str], bool]] = {
        "id": lambda v: container.id.startswith(v),
        "name": lambda v: re.search(v, container.name) is not None,
        "label": lambda v: _label_matches(container.labels, v),
        "status": lambda v: container.status == v,
        "ancestor": lambda v: v in (container.image_ref, container.image_id)
        or container.image_id.startswith("sha256:" + v) or container.image_ref.startswith(v + ":"),
        "exited": lambda v: container.status == "exited" and str(container.exit_code) == v,
        "network": lambda v: v == container.network_mode or v in container.attachments(),
        "volume": lambda v: any(v in (m.name, m.source, m.destination)
                                for m in container.mount_points()),
        "before": lambda v: container.created < service.get(v).created,
        "since": lambda v: container.created > service.get(v).created,
        "is-task": lambda v: v in ("false", "0"),
        "health": lambda v: health_config.filter_status(container.state) == _health_value(v),
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
