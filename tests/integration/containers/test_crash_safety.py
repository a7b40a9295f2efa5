"""SIGKILL of our processes in the middle of a start or an exec leaves nothing inconsistent.

A daemon killed inside `docker start` / `docker run -d` must leave a state the
next daemon settles: the container is either running (and adopted as such)
or not, with no monitor or rootfs mount left behind, and every verb works on
it. An exec must not outlive its `crun exec`, its daemon or its client.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from typing import List, Optional

import pytest

from tests.integration.conftest import DOCKER, Engine, process_alive

ITERATIONS = 12


def _mountinfo(engine: Engine) -> str:
    """The mounts of the engine's mount namespace (the pause process keeps it)."""
    with open(os.path.join(engine.run_dir, "pause.pid")) as f:
        pause = int(json.load(f)["pid"])
    with open(f"/proc/{pause}/mountinfo") as f:
        return f.read()


def _monitor_pid(engine: Engine, container_id: str) -> Optional[int]:
    try:
        with open(os.path.join(engine.run_dir, "monitors", container_id, "monitor.pid")) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _inspect(engine: Engine, name: str) -> Optional[dict]:  # type: ignore[type-arg]
    result = engine.docker("inspect", name, check=False)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)[0]  # type: ignore[no-any-return]


def _assert_nothing_left(engine: Engine, container_id: str, monitor: Optional[int]) -> None:
    """After rm: no monitor process, no monitor dir, no rootfs mount."""
    deadline = time.monotonic() + 10
    while monitor is not None and process_alive(monitor):
        assert time.monotonic() < deadline, f"monitor {monitor} of {container_id[:12]} still runs"
        time.sleep(0.05)
    assert not os.path.exists(os.path.join(engine.run_dir, "monitors", container_id))
    assert container_id not in _mountinfo(engine)


def _check_settled(engine: Engine, name: str) -> None:
    """The container a killed daemon left is consistent; every verb works; rm leaves nothing."""
    info = _inspect(engine, name)
    if info is None:  # `run -d` killed before the create was recorded
        return
    cid, state = info["Id"], info["State"]
    monitor = _monitor_pid(engine, cid)
    if state["Status"] == "running":
        assert process_alive(state["Pid"]), state
        assert monitor is not None and process_alive(monitor)
        # docker start of a running container: 304 from the API, success for the CLI
        engine.docker("start", name)
        engine.docker("stop", "-t", "1", name, timeout=60)
        assert _inspect(engine, name)["State"]["Status"] == "exited"  # type: ignore[index]
    else:
        assert state["Status"] in ("created", "exited"), state
        assert monitor is None or not process_alive(monitor), f"{name}: {state['Status']} with a live monitor"
        assert cid not in _mountinfo(engine), f"{name}: {state['Status']} with its rootfs mounted"
        engine.docker("start", name)  # failed with "its monitor is still running" before
        assert _inspect(engine, name)["State"]["Status"] == "running"  # type: ignore[index]
        monitor = _monitor_pid(engine, cid)
    engine.docker("rm", "-f", name, timeout=60)
    _assert_nothing_left(engine, cid, monitor)


def _kill_during(engine: Engine, argv: List[str], delay: float) -> None:
    """Run a docker command, SIGKILL the daemon after delay, let the client fail."""
    client = engine.user.popen([DOCKER, *argv], env=engine.env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    time.sleep(delay)
    engine.kill_daemon()
    client.wait(60)


def test_daemon_killed_during_start_leaves_a_settled_container(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    eng.docker("pull", "-q", images.busybox, timeout=300)
    names = [f"start{i}" for i in range(ITERATIONS)]
    for name in names:
        eng.docker("create", "--name", name, images.busybox, "sleep", "300")
    for i, name in enumerate(names):
        _kill_during(eng, ["start", name], 0.025 * i)
        eng.cli("info")  # a new daemon, which adopts what the old one left
        _check_settled(eng, name)


def test_daemon_killed_during_run_leaves_a_settled_container(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    eng.docker("pull", "-q", images.busybox, timeout=300)
    for i in range(ITERATIONS):
        name = f"run{i}"
        # -p: the port forward is part of what the monitor sets up before it is ready
        _kill_during(eng, ["run", "-d", "--name", name, "-p", "127.0.0.1::80", images.busybox, "sleep", "300"],
                     0.05 * i)
        eng.cli("info")
        _check_settled(eng, name)


# -- execs ------------------------------------------------------------------------------

def _wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _processes(init_pid: int, cmdline: bytes) -> List[int]:
    """Live processes in the container's pid namespace with this exact cmdline."""
    try:
        target = os.readlink(f"/proc/{init_pid}/ns/pid")
    except OSError:  # the container is gone, and its pid namespace with it
        return []
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{name}/ns/pid") != target:
                continue
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if f.read() == cmdline and process_alive(int(name)):
                    found.append(int(name))
        except OSError:
            continue
    return found


def _crun_execs(container_id: str) -> List[int]:
    """`crun ... exec ... CONTAINER` processes of this container."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"crun") and b"exec" in argv and container_id.encode() in argv:
            found.append(int(name))
    return found


def _running_container(engine: Engine, image: str, name: str) -> dict:  # type: ignore[type-arg]
    engine.docker("run", "-d", "--name", name, image, "sleep", "600")
    info = _inspect(engine, name)
    assert info is not None
    return info


def _start_exec(engine: Engine, init_pid: int, argv: List[str], cmdline: bytes) -> "subprocess.Popen[bytes]":
    """docker exec ARGV as a client process, once its process runs in the container."""
    client = engine.user.popen([DOCKER, "exec", *argv], env=engine.env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _wait_until(lambda: _processes(init_pid, cmdline), 30, f"exec {argv} did not start")
    return client


def test_exec_dies_with_its_crun_exec(fresh_engine: Engine, images,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Our monitor's crun exec lives as long as its exec; conmon's runs `crun exec --detach` (test_conmon_exec.py)
    monkeypatch.setenv("ROOTLESS_MONITOR", "python")
    eng = fresh_engine
    eng.cli("info")
    eng.docker("pull", "-q", images.busybox, timeout=300)
    info = _running_container(eng, images.busybox, "execs")
    cid, init = info["Id"], info["State"]["Pid"]
    for i, flags in enumerate([[], ["-t"], ["-d"], [], ["-i"]]):
        seconds = str(1000 + i)
        cmdline = b"sleep\0" + seconds.encode() + b"\0"
        client = _start_exec(eng, init, [*flags, "execs", "sleep", seconds], cmdline)
        crun = _crun_execs(cid)
        assert crun, "no crun exec process"
        for pid in crun:
            os.kill(pid, signal.SIGKILL)
        _wait_until(lambda: not _processes(init, cmdline), 5, f"{flags}: the exec's process outlived its crun")
        client.wait(30)
        assert process_alive(init)
    assert eng.docker("exec", "execs", "echo", "still fine").stdout == "still fine\n"
    eng.docker("rm", "-f", "execs", timeout=60)


def test_exec_dies_with_its_client_and_daemon_but_detached_ones_stay(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    eng.docker("pull", "-q", images.busybox, timeout=300)
    info = _running_container(eng, images.busybox, "owner")
    init = info["State"]["Pid"]
    detached = b"sleep\0" + b"2001\0"
    eng.docker("exec", "-d", "owner", "sleep", "2001")
    _wait_until(lambda: _processes(init, detached), 30, "detached exec did not start")

    client = _start_exec(eng, init, ["owner", "sleep", "2002"], b"sleep\x002002\x00")
    client.kill()  # SIGKILL of the docker CLI: the connection closes
    client.wait(30)
    _wait_until(lambda: not _processes(init, b"sleep\x002002\x00"), 5, "the exec outlived its client")
    assert _processes(init, detached), "a detached exec must not die when its client leaves"

    for flags, seconds in (([], "2003"), (["-t"], "2004")):
        cmdline = b"sleep\0" + seconds.encode() + b"\0"
        client = _start_exec(eng, init, [*flags, "owner", "sleep", seconds], cmdline)
        eng.kill_daemon()
        _wait_until(lambda: not _processes(init, cmdline), 5, f"{flags}: the exec outlived its daemon")
        client.wait(30)
        eng.cli("info")
    assert _inspect(eng, "owner")["State"]["Status"] == "running"  # type: ignore[index]
    assert process_alive(init)
    eng.docker("rm", "-f", "owner", timeout=60)


def test_exec_dies_with_the_container_monitor(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    """The monitor runs the exec's crun: SIGKILL it and the container ends, its execs with it."""
    eng = fresh_engine
    eng.cli("info")
    eng.docker("pull", "-q", images.busybox, timeout=300)
    info = _running_container(eng, images.busybox, "monitored")
    cid, init = info["Id"], info["State"]["Pid"]
    cmdline = b"sleep\0" + b"3001\0"
    client = _start_exec(eng, init, ["monitored", "sleep", "3001"], cmdline)
    monitor = _monitor_pid(eng, cid)
    assert monitor is not None
    os.kill(monitor, signal.SIGKILL)
    _wait_until(lambda: not process_alive(init) or not _processes(init, cmdline), 15, "the exec outlived its monitor")
    client.wait(30)
    _wait_until(lambda: _inspect(eng, "monitored")["State"]["Status"] == "exited", 15,  # type: ignore[index]
                "container not marked exited")
    eng.docker("rm", "-f", "monitored", timeout=60)
    assert not os.path.exists(os.path.join(eng.run_dir, "monitors", cid))


def test_exec_killed_while_crun_sets_it_up_leaves_nothing(fresh_engine: Engine, images,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Our monitor's crun exec lives as long as its exec; conmon's runs `crun exec --detach` (test_conmon_exec.py)
    monkeypatch.setenv("ROOTLESS_MONITOR", "python")
    """SIGKILL crun exec at varying points of its set-up (before its pid file too)."""
    eng = fresh_engine
    eng.cli("info")
    eng.docker("pull", "-q", images.busybox, timeout=300)
    info = _running_container(eng, images.busybox, "early")
    cid, init = info["Id"], info["State"]["Pid"]
    for i in range(ITERATIONS):
        seconds = str(4000 + i)
        cmdline = b"sleep\0" + seconds.encode() + b"\0"
        client = eng.user.popen([DOCKER, "exec", "early", "sleep", seconds], env=eng.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not _crun_execs(cid) and client.poll() is None:
            assert time.monotonic() < deadline, "no crun exec appeared"
            time.sleep(0.002)
        time.sleep(0.005 * i)
        for pid in _crun_execs(cid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _wait_until(lambda: not _processes(init, cmdline), 5, f"delay {0.005 * i}: the exec outlived its crun")
        client.wait(30)
    assert process_alive(init)
    eng.docker("rm", "-f", "early", timeout=60)
