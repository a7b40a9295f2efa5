"""Running containers: start, stop, kill, remove, restart policies, re-adoption.

The ContainerService keeps records; this module turns them into processes
through the storage driver, the spec builder and the per-container monitor.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import signal as signals
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, TypeVar

from rootless.engine.container_model import Container, log_max_files, log_max_size
from rootless.engine.container_reads import ContainerReads
from rootless.engine.containers import ContainerService
from rootless.errors import (Conflict, FailedPrecondition, InvalidArgument, NotModified, RootlessError,
                             ToolError)
from rootless.images import layers
from rootless.runtime import crun as crun_mod
from rootless.runtime import spec as runtime_spec
from rootless.runtime.supervisor import Supervisor
from rootless.runtime.storage import get_driver
from rootless.util import fs, proc
from rootless.util.fs import dir_size

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_STOP_TIMEOUT = 10
START_TIMEOUT = 60.0
RESTART_BACKOFF_MAX = 10.0


_NOT_FOUND_RE = re.compile(r"executable file `([^`]*)` not found")


def docker_start_error(exc: RootlessError) -> RootlessError:
    """crun's words for a command that can't run, in the form docker clients parse.

    The docker CLI picks exit code 127 from "executable file not found" and
    126 from "permission denied" (cli/command/container/run.go).
    """
    text = exc.message
    found = _NOT_FOUND_RE.search(text)
    if found:
        return InvalidArgument(f'failed to create task for container: exec: "{found.group(1)}": '
                               "executable file not found in $PATH: unknown")
    # crun opens the binary first: EACCES for a file without x, EPERM for a directory
    # (docker says "is a directory: permission denied"); both are 126.
    text = text.replace("open executable: Operation not permitted", "open executable: permission denied")
    if "Permission denied" in text or "permission denied" in text:
        return InvalidArgument(f"failed to create task for container: {text.replace('Permission denied', 'permission denied')}")
    return exc


def exit_code_for_start_error(message: str) -> int:
    """Docker's exit status when the command cannot run (126/127), else 128."""
    lowered = message.lower()
    if "executable file not found" in lowered or "no such file or directory" in lowered:
        return 127
    if "permission denied" in lowered:
        return 126
    return 128


def parse_signal(value: Optional[str], default: int = signals.SIGKILL) -> int:
    """KILL, SIGKILL or 9 -> 9."""
    if value in (None, ""):
        return default
    text = str(value).upper()
    if text.isdigit():
        return int(text)
    name = text if text.startswith("SIG") else "SIG" + text
    try:
        return int(getattr(signals, name))
    except AttributeError:
        raise InvalidArgument(f"invalid signal: {value}") from None


class Lifecycle(ContainerReads):
    """Start/stop/kill/remove and the background waiters; one per engine."""

    def __init__(self, engine: Any, containers: ContainerService) -> None:
        self.engine = engine
        self.paths = engine.paths
        self.containers = containers
        self.driver = get_driver(engine.host.storage_driver, engine.paths)
        self.crun = crun_mod.Crun(engine.settings.runtime, self.paths.crun_state, engine.host.cgroup.manager)
        self.supervisor = Supervisor(self.paths, self.crun)
        self._attach_waiting: Dict[str, List[Any]] = {}
        self._lock = threading.RLock()
        self._manually_stopped: Set[str] = set()
        self._restart_counts: Dict[str, int] = {}
        self._closing = False
        self.spec_host = runtime_spec.HostFacts.detect()

    # -- create -----------------------------------------------------------------
    def create(self, body: Dict[str, Any], name: Optional[str], platform: Optional[str]) -> Container:
        return self.containers.create(body, name)

    def prepare(self, container: Container, image: Any) -> None:
        """Give a new container its rootfs (called by ContainerService.create)."""
        lowers = layers.ensure_unpacked(self.engine.image_store, image)
        self.driver.create(container.id, lowers)

    # -- start ------------------------------------------------------------------
    def start(self, container: Container) -> None:
        """Start a created or exited container.

        Raises:
            NotModified: it is already running.
            ToolError / InvalidArgument: the runtime refused (recorded in State.Error).
        """
        with self._lock:
            if container.running:
                raise NotModified("container already started")
            self._manually_stopped.discard(container.id)
            try:
                pid, ports = self._launch(container)
            except RootlessError as exc:
                error = docker_start_error(exc)
                self._start_failed(container, error)
                raise error from None
            self._mark_started(container, pid, ports)
        self.containers.publish(container, "start")
        self._watch(container)

    def _mark_started(self, container: Container, pid: int, ports: List[Dict[str, Any]]) -> None:
        """Record the running container: start's last step (see _settle_interrupted_start)."""
        container.data["Internal"] = {"ports": ports}
        self.containers.mark_running(container, pid)

    def _launch(self, container: Container) -> Tuple[int, List[Dict[str, Any]]]:
        rootfs = self.driver.mount(container.id)
        network = self.engine.network_setup(container)
        bundle = os.path.join(container.dir, "bundle")
        fs.ensure_dir(bundle)
        options = self.engine.spec_options(container, rootfs, network)
        spec = runtime_spec.build_spec(options, self.engine.host.mapping, self.spec_host)
        fs.atomic_write_json(os.path.join(bundle, "config.json"), spec, 0o600)
        config = self.supervisor.new_config(
            container.id, bundle, container.log_path, log_max_size=_log_size(container), log_max_files=_log_files(container),
            tty=container.tty, open_stdin=bool(container.config.get("OpenStdin")),
            # moby closes stdin at the attach's end only without a TTY (CloseStdin && !TTY in
            # container/stream/attach.go): `run -it` then ctrl-p ctrl-q leaves the shell running.
            stdin_once=bool(container.config.get("StdinOnce")) and not container.tty,
            network=network.monitor_mode,
            ports=network.ports, log_level=self.engine.settings.log_level,
        )
        ready = self.supervisor.launch(config, timeout=START_TIMEOUT)
        for session in self._take_waiting(container.id):
            session.connect()
        self.supervisor.start(container.id)
        return ready.pid, list(ready.ports)

    def _start_failed(self, container: Container, exc: RootlessError) -> None:
        """Record the failure like docker (exit 126/127/128) and release everyone waiting."""
        code = exit_code_for_start_error(exc.message)
        for session in self._take_waiting(container.id):
            session.cancel()
        self._teardown(container)
        self.containers.mark_start_failed(container, exc.message, code)
        self.containers.publish(container, "die", exitCode=str(code))
        if container.host_config.get("AutoRemove"):
            # docker run --rm waits for condition=removed, also after a failed start.
            with contextlib.suppress(RootlessError):
                self._remove_stopped(container, volumes=True)

    def _take_waiting(self, container_id: str) -> List[Any]:
        with self._lock:
            return self._attach_waiting.pop(container_id, [])

    def add_waiting_attach(self, container: Container, session: Any) -> bool:
        """Queue an attach for the next start; False when it already runs (connect now).

        Checked under the start lock: docker sends attach, then start at once,
        and an attach queued after start took the queue would never connect.
        """
        with self._lock:
            if container.running:
                return False
            self._attach_waiting.setdefault(container.id, []).append(session)
            return True

    # -- exit handling ----------------------------------------------------------
    def _watch(self, container: Container) -> None:
        thread = threading.Thread(target=self._wait_for_exit, args=(container,), daemon=True,
                                  name=f"wait-{container.id[:12]}")
        thread.start()

    def _wait_for_exit(self, container: Container) -> None:
        exit_info = _retry_out_of_fds(lambda: self.supervisor.wait_exit(container.id), container.id)
        if self._closing:
            return  # the daemon is stopping; the next one re-adopts
        _retry_out_of_fds(lambda: self._on_exit(container, exit_info or {"ExitCode": 255}), container.id)

    def _on_exit(self, container: Container, exit_info: Dict[str, Any]) -> None:
        code = int(exit_info.get("ExitCode", 255))
        self._teardown(container)
        self.containers.mark_exited(container, code, exit_info.get("FinishedAt"))
        self.containers.publish(container, "die", exitCode=str(code))
        if container.host_config.get("AutoRemove"):
            with contextlib.suppress(RootlessError):
                self._remove_stopped(container, volumes=True)
            return
        if self._should_restart(container, code):
            threading.Thread(target=self._restart_later, args=(container,), daemon=True).start()

    def _teardown(self, container: Container) -> None:
        """After the process is gone: unmount the rootfs, forget the monitor dir."""
        with contextlib.suppress(RootlessError, OSError):
            self.driver.unmount(container.id)
        self.supervisor.remove(container.id)

    def _should_restart(self, container: Container, code: int) -> bool:
        policy = container.host_config.get("RestartPolicy") or {}
        name = policy.get("Name") or "no"
        if container.id in self._manually_stopped or name == "no":
            return False
        if name == "on-failure":
            limit = int(policy.get("MaximumRetryCount") or 0)
            return code != 0 and (limit == 0 or int(container.data.get("RestartCount", 0)) < limit)
        return name in ("always", "unless-stopped")

    def _restart_later(self, container: Container) -> None:
        count = int(container.data.get("RestartCount", 0))
        time.sleep(min(RESTART_BACKOFF_MAX, 0.1 * (2 ** min(count, 7))))
        if self._closing or container.id in self._manually_stopped or container.running:
            return
        try:
            self.containers.get(container.id)
        except RootlessError:
            return
        container.data["RestartCount"] = count + 1
        try:
            self.start(container)
            self.containers.publish(container, "restart")
        except RootlessError as exc:
            logger.warning("restart of %s failed: %s", container.name, exc)

    # -- stop / kill ------------------------------------------------------------
    def kill(self, container: Container, signal_value: str) -> None:
        if not container.running:
            raise Conflict(f"Cannot kill container: {container.name}: container {container.id} is not running")
        sig = parse_signal(signal_value)
        self._signal(container, sig)
        self.containers.publish(container, "kill", signal=str(sig))
        if sig == signals.SIGKILL:
            # dockerd's Kill waits for the exit (daemon/kill.go, 10 s): an inspect or a
            # plain rm right after must see the container stopped.
            self._wait_stopped(container, 10.0)

    def _signal(self, container: Container, sig: int) -> None:
        try:
            self.crun.kill(container.id, sig)
        except ToolError as exc:
            # It may have exited between our check and the signal.
            if container.running and self.supervisor.is_alive(container.id):
                raise
            logger.debug("kill %s: %s", container.id, exc)

    def stop(self, container: Container, timeout: Optional[int], signal_value: Optional[str]) -> None:
        if not container.running:
            raise NotModified("container already stopped")
        self._manually_stopped.add(container.id)
        stop_signal = parse_signal(signal_value or container.config.get("StopSignal") or "SIGTERM")
        if timeout is None:
            timeout = container.config.get("StopTimeout")
        timeout = DEFAULT_STOP_TIMEOUT if timeout is None else int(timeout)
        self._signal(container, stop_signal)
        self.containers.publish(container, "kill", signal=str(stop_signal))
        if not self._wait_stopped(container, timeout if timeout >= 0 else None):
            self._signal(container, signals.SIGKILL)
            self.containers.publish(container, "kill", signal=str(int(signals.SIGKILL)))
            self._wait_stopped(container, 30)
        self.containers.publish(container, "stop")

    def _wait_stopped(self, container: Container, timeout: Optional[float]) -> bool:
        try:
            self.containers.wait(container, "not-running", timeout)
            return True
        except Conflict:
            return False

    def restart(self, container: Container, timeout: Optional[int], signal_value: Optional[str]) -> None:
        with contextlib.suppress(NotModified):
            self.stop(container, timeout, signal_value)
        self.start(container)
        self.containers.publish(container, "restart")

    # -- remove -----------------------------------------------------------------
    def remove(self, container: Container, force: bool, volumes: bool) -> None:
        if container.running:
            if not force:
                raise Conflict(
                    f'cannot remove container "/{container.name}": container is running: '
                    "stop the container before removing or force remove"
                )
            self._manually_stopped.add(container.id)
            self._signal(container, signals.SIGKILL)
            self._wait_stopped(container, 30)
        self._remove_stopped(container, volumes)

    def _remove_stopped(self, container: Container, volumes: bool) -> None:
        self.driver.remove(container.id)
        self.supervisor.remove(container.id)
        self.engine.release_container(container, volumes)
        self.containers.forget(container)

    def prune(self, filters: Dict[str, List[str]]) -> Tuple[List[str], int]:
        removed = []
        for container in self.containers.all():
            if container.running:
                continue
            if "label" in filters and not all(
                    _label_matches(container.config.get("Labels") or {}, w) for w in filters["label"]):
                continue
            size = dir_size(self.driver.upper_dir(container.id))
            self._remove_stopped(container, False)
            removed.append((container.id, size))
        return [cid for cid, _ in removed], sum(size for _, size in removed)

    # -- adoption after a daemon restart ----------------------------------------
    def adopt(self) -> None:
        """Pick up containers a previous daemon started; apply restart policies."""
        for container in self.containers.all():
            if container.running:
                if self.supervisor.is_alive(container.id):
                    self._watch(container)
                    continue
                exit_info = self.supervisor.read_exit(container.id) or {"ExitCode": 255}
                self._on_exit(container, exit_info)
            elif self._settle_interrupted_start(container):
                continue
            elif (container.host_config.get("RestartPolicy") or {}).get("Name") in ("always",) \
                    and container.state.get("StartedAt", "").startswith("0001") is False:
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
        if not os.path.isdir(self.paths.monitor_dir(container.id)) and not self.driver.is_mounted(container.id):
            return False
        logger.info("container %s: settling a start a previous daemon did not finish", container.name)
        try:
            ready = self.supervisor.resume_start(container.id, timeout=START_TIMEOUT)
        except RootlessError as exc:
            self._start_failed(container, docker_start_error(exc))
            return True
        if ready is not None:
            self._mark_started(container, ready.pid, list(ready.ports))
            self.containers.publish(container, "start")
            self._watch(container)
            return True
        exit_info = self.supervisor.read_exit(container.id)
        if exit_info is not None:  # it ran and exited before the start was recorded
            self._on_exit(container, exit_info)
            return True
        self._teardown(container)
        return False

    def close(self) -> None:
        self._closing = True

    # -- misc -------------------------------------------------------------------
    def resize(self, container: Container, height: int, width: int) -> None:
        if not container.running:
            raise Conflict(f"container {container.id} is not running")
        if height and width:
            self.supervisor.resize(container.id, height, width)

    def refuse_without_cgroups(self, what: str) -> None:
        cgroup = self.engine.host.cgroup
        if not cgroup.limits_supported:
            raise FailedPrecondition(
                f"{what}: not supported on this host: {cgroup.describe()}",
                hint="cgroup v2 with controllers delegated to the user is required (see 'rootless doctor')",
            )

    def pause(self, container: Container) -> None:
        self.refuse_without_cgroups("pause")
        self.crun.pause(container.id)
        container.set_state("paused")
        container.save()
        self.containers.publish(container, "pause")

    def unpause(self, container: Container) -> None:
        self.refuse_without_cgroups("unpause")
        self.crun.resume(container.id)
        container.set_state("running")
        container.save()
        self.containers.publish(container, "unpause")

    def stats(self, container: Container) -> Dict[str, Any]:
        self.refuse_without_cgroups("stats")
        raise FailedPrecondition("stats: not implemented for cgroup v2 yet")


def _label_matches(labels: Dict[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in labels and (not sep or labels[key] == value)


def _log_size(container: Container) -> int:
    return log_max_size((container.host_config.get("LogConfig") or {}).get("Config") or {})


def _log_files(container: Container) -> int:
    return log_max_files((container.host_config.get("LogConfig") or {}).get("Config") or {})


def _retry_out_of_fds(step: Callable[[], T], container_id: str) -> T:
    """Run step again while the fd table is full: an exit must not be lost to EMFILE (issue 7).

    Without this the watcher thread died and `ps` showed a finished container as Up.
    """
    delay = 0.05
    while True:
        try:
            return step()
        except OSError as exc:
            if exc.errno not in proc.OUT_OF_FDS:
                raise
            logger.warning("collecting the exit of %s: %s; retrying", container_id[:12], exc.strerror)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
