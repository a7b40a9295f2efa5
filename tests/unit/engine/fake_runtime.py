"""A ContainerRuntime without processes: the state machine's unit tests drive exits by hand.

It keeps what Containers asked for (launches, signals, teardowns) so tests
assert on the calls, and lets a test end a container's process (exit), make
the next launch fail, or leave what a killed daemon leaves (a monitor that
still runs, a mount without a monitor) before a new Containers adopts.
"""
from __future__ import annotations

import contextlib

import json
import os
import signal
import socket
import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable, Dict, Iterator, List, Optional, Set

from rootless.engine.container_runtime import MonitorSettings
from rootless.errors import RootlessError, ToolError
from rootless.runtime.spec import SpecOptions
from rootless.runtime.supervisor import Launched


@dataclass
class Process:
    """One launched container process."""

    options: SpecOptions
    monitor: MonitorSettings
    started: bool = False
    exited: threading.Event = field(default_factory=threading.Event)
    report: Optional[Dict[str, Any]] = None


class FakeRuntime:
    """ContainerRuntime (engine/container_runtime.py) in memory; rootfs dirs under root."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.processes: Dict[str, Process] = {}
        self.exits: Dict[str, Dict[str, Any]] = {}  # a gone process's report, kept until teardown
        self.mounted: Set[str] = set()
        self.monitor_dirs: Set[str] = set()
        self.calls: List[str] = []
        self.signals: List[int] = []
        self.fail_next_launch: Optional[RootlessError] = None
        self.ignore_signals: Set[int] = set()
        self.resumable: Dict[str, Launched] = {}  # container id -> what resume_start reports
        self.next_pid = 100
        self.exec_processes: Dict[str, Dict[str, Any]] = {}  # exec id -> the OCI process it got
        self.updates: List[Dict[str, Any]] = []  # the linux.resources each update got
        self._lock = threading.Lock()

    # -- test controls --------------------------------------------------------
    def exit(self, container_id: str, code: int, oom_killed: bool = False) -> None:
        """The container's process ends with code (as its monitor would report)."""
        with self._lock:
            process = self.processes.pop(container_id)
            process.report = {"ExitCode": code, "FinishedAt": "2026-01-01T00:00:00.000000000Z"}
            if oom_killed:
                process.report["OOMKilled"] = True
            self.exits[container_id] = process.report
        process.exited.set()

    def leave_monitor(self, container_id: str) -> None:
        """What a daemon killed in start() leaves: a monitor (and process) the record does not know."""
        with self._lock:
            self.processes[container_id] = Process(None, None)  # type: ignore[arg-type]
            self.monitor_dirs.add(container_id)

    def running(self, container_id: str) -> bool:
        return container_id in self.processes

    # -- ContainerRuntime -------------------------------------------------------
    def prepare_rootfs(self, container_id: str, image: Any, shift: Any = None, durable: bool = True) -> None:
        os.makedirs(os.path.join(self.root, container_id), exist_ok=True)
        self.calls.append(f"prepare {container_id[:6]}")

    def mount(self, container_id: str) -> str:
        self.mounted.add(container_id)
        path = os.path.join(self.root, container_id)
        os.makedirs(path, exist_ok=True)
        return path

    def upper_dir(self, container_id: str) -> str:
        return os.path.join(self.root, container_id)

    def changes(self, container_id: str) -> List[Dict[str, Any]]:
        return [{"Path": "/fake", "Kind": 1}]

    @contextlib.contextmanager
    def lowers(self, container_id: str) -> Iterator[List[str]]:
        yield []

    def remove_rootfs(self, container_id: str) -> None:
        self.calls.append(f"remove {container_id[:6]}")
        self.mounted.discard(container_id)
        self.monitor_dirs.discard(container_id)

    def release_rootfs(self, container_id: str, moved_to: Optional[str] = None) -> None:
        self.calls.append(f"remove {container_id[:6]}")  # the dirs go to the engine's trash
        self.mounted.discard(container_id)
        self.monitor_dirs.discard(container_id)

    def drop_orphans(self, recorded: Any) -> List[str]:
        dropped = sorted(cid for cid in self.monitor_dirs if cid not in recorded and cid not in self.processes)
        self.monitor_dirs.difference_update(dropped)
        return dropped

    def launch(self, container_id: str, options: SpecOptions, monitor: MonitorSettings,
               while_creating: Callable[[], None] = lambda: None) -> Launched:
        while_creating()  # as the monitor's crun create would run: before the launch's outcome
        if self.fail_next_launch is not None:
            error, self.fail_next_launch = self.fail_next_launch, None
            raise error
        with self._lock:
            self.processes[container_id] = Process(options, monitor)
            self.exits.pop(container_id, None)
            self.monitor_dirs.add(container_id)
            self.next_pid += 1
            pid = self.next_pid
        self.calls.append(f"launch {container_id[:6]}")
        return Launched(container_id, pid, pid + 1000, [{"proto": "tcp", "container_port": p["container_port"],
                                                        "host_port": p["host_port"] or 32768, "host_ip": ""}
                                                       for p in monitor.ports])

    def bundle_config(self, container_id: str) -> Optional[Dict[str, Any]]:
        """What exec reads: the process of the container's config.json."""
        process = self.processes.get(container_id)
        if process is None:
            return None
        options = process.options
        return {"process": {"args": options.args, "env": options.env, "cwd": options.cwd},
                "root": {"path": options.rootfs}}

    def start(self, container_id: str) -> None:
        self.processes[container_id].started = True

    def resume_start(self, container_id: str) -> Optional[Launched]:
        launched = self.resumable.pop(container_id, None)
        if launched is not None:
            self.processes[container_id].started = True
        return launched

    def has_leftovers(self, container_id: str) -> bool:
        return container_id in self.monitor_dirs or container_id in self.mounted

    def wait_exit(self, container_id: str) -> Optional[Dict[str, Any]]:
        process = self.processes.get(container_id)
        if process is None:
            return self.exits.get(container_id)
        process.exited.wait()
        return process.report

    def read_exit(self, container_id: str) -> Optional[Dict[str, Any]]:
        return self.exits.get(container_id)

    def is_alive(self, container_id: str) -> bool:
        return container_id in self.processes

    def teardown(self, container_id: str) -> None:
        self.calls.append(f"teardown {container_id[:6]}")
        self.mounted.discard(container_id)
        self.monitor_dirs.discard(container_id)

    def signal(self, container_id: str, sig: int) -> None:
        self.signals.append(sig)
        if container_id not in self.processes:
            raise ToolError("crun", f"kill {container_id}: container not running")
        if sig not in self.ignore_signals and sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            self.exit(container_id, 128 + sig)

    def pause(self, container_id: str) -> None:
        self.calls.append(f"pause {container_id[:6]}")

    def resume(self, container_id: str) -> None:
        self.calls.append(f"resume {container_id[:6]}")

    def stats(self, container_id: str, pid: int, name: str, previous: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        """A sample whose cpu total counts the calls, so a test sees which sample was precpu."""
        self.calls.append(f"stats {container_id[:6]}")
        total = sum(1 for c in self.calls if c.startswith("stats "))
        return {"id": container_id, "name": "/" + name, "pid": pid, "cpu_stats": {"cpu_usage": {"total_usage": total}},
                "precpu_stats": previous["cpu_stats"] if previous else {}}

    def update(self, container_id: str, resources: Dict[str, Any]) -> None:
        if container_id not in self.processes:
            raise ToolError("crun", f"update {container_id}: container not running")
        self.calls.append(f"update {container_id[:6]} {sorted(resources)}")
        self.updates.append(resources)

    def resize(self, container_id: str, height: int, width: int) -> None:
        self.calls.append(f"resize {container_id[:6]} {height}x{width}")

    def attach(self, container_id: str, stdin: bool, stdout: bool, stderr: bool) -> socket.socket:
        raise ToolError("monitor", "the fake runtime has no stdio")

    def exec(self, container_id: str, exec_id: str, process: Dict[str, Any], *, stdin: bool,
             detach: bool) -> Any:
        """A process that has already ended: stdout "out", stderr "err", exit code 3."""
        self.calls.append(f"exec {container_id[:6]} {' '.join(process['args'])}")
        self.exec_processes[exec_id] = process
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        os.write(out_w, b"out")
        os.write(err_w, b"err")
        os.close(out_w)
        os.close(err_w)
        return SimpleNamespace(pid=7, tty=False, master_fd=-1, stdin=None, stdout=os.fdopen(out_r, "rb"),
                               stderr=os.fdopen(err_r, "rb"), wait=lambda: 3, close=lambda: None,
                               kill=lambda: None, detach=lambda drain=False: self.calls.append(
                                   f"detach {exec_id[:6]}" + (" drain" if drain else "")))
