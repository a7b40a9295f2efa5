"""A detached exec outlives a graceful daemon stop and a SIGKILL of the daemon, as docker's
outlives dockerd (a process in the container that containerd's shim keeps): the container's
monitor keeps it and drains its output. An attached exec still ends with the daemon, nobody
could read it any more. Its exec record does not survive, as moby's are in memory only: the
new daemon answers the old ID with docker's 404 "No such exec instance"."""
from __future__ import annotations

import time
from typing import Dict, List

import docker
import pytest

from tests.integration.conftest import Engine, process_alive
from tests.integration.containers.test_crash_safety import (_inspect, _processes, _running_container, _start_exec,
                                                            _wait_until)

WRITER = "while :; do echo out; echo err >&2; sleep 0.05; done"  # dies of SIGPIPE if nobody drains stderr
DETACHED: Dict[str, List[str]] = {
    "plain": ["sleep", "4001"],
    "writer": ["sh", "-c", WRITER],
    "tty": ["sleep", "4002"],
    "keys": ["sleep", "4004"],  # a TTY exec whose client left with the detach keys
}


def _cmdline(argv: List[str]) -> bytes:
    return b"".join(arg.encode() + b"\0" for arg in argv)


def _start_detached(eng: Engine, cid: str, init: int) -> Dict[str, str]:
    """The detached execs through the API, as `docker exec -d [-t]` does, and one left with
    the detach keys; name -> exec ID."""
    api = eng.client().api
    ids = {}
    for name in ("plain", "writer", "tty"):
        ids[name] = api.exec_create(cid, DETACHED[name], tty=name == "tty")["Id"]
        api.exec_start(ids[name], detach=True)
    ids["keys"] = api.exec_create(cid, DETACHED["keys"], stdin=True, tty=True, detach_keys="ctrl-x")["Id"]
    sock = api.exec_start(ids["keys"], tty=True, socket=True)._sock
    sock.settimeout(10)
    sock.sendall(b"\x18")
    while sock.recv(4096):  # the engine ends the attach; the process runs on
        pass
    sock.close()
    for argv in DETACHED.values():
        _wait_until(lambda: _processes(init, _cmdline(argv)), 30, f"exec {argv} did not start")
    return ids


def _pids(init: int) -> Dict[str, List[int]]:
    return {name: _processes(init, _cmdline(argv)) for name, argv in DETACHED.items()}


@pytest.mark.parametrize("how", ["system stop", "SIGKILL"])
def test_a_detached_exec_outlives_the_daemon(fresh_engine: Engine, images, how: str) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    eng.docker("pull", "-q", images.busybox, timeout=300)
    info = _running_container(eng, images.busybox, "keeper")
    cid, init = info["Id"], info["State"]["Pid"]
    ids = _start_detached(eng, cid, init)
    before = _pids(init)
    eng.docker("update", "--restart", "no", "keeper")  # the record is saved, with its ExecIDs
    attached = _cmdline(["sleep", "4003"])
    client = _start_exec(eng, init, ["keeper", "sleep", "4003"], attached)

    if how == "SIGKILL":
        eng.kill_daemon()
    else:
        eng.cli("system", "stop", timeout=60)
    _wait_until(lambda: not _processes(init, attached), 10, "an attached exec outlived its daemon")
    client.wait(30)
    time.sleep(1.0)  # the writer's stderr had no reader for that long: it would have died of SIGPIPE
    assert _pids(init) == before, f"a detached exec died with the daemon ({how})"

    eng.cli("info")  # a new daemon
    after = _inspect(eng, "keeper")
    assert after is not None and after["State"]["Status"] == "running"
    assert after["ExecIDs"] is None  # dockerd's after a restart too: its exec records were in memory
    api = eng.client().api
    for exec_id in ids.values():
        with pytest.raises(docker.errors.NotFound, match="No such exec instance"):
            api.exec_inspect(exec_id)
    assert "sleep 4001" in eng.docker("top", "keeper").stdout
    assert "sleep 4001" in eng.docker("exec", "keeper", "ps").stdout
    assert _pids(init) == before

    started = time.monotonic()
    eng.docker("stop", "-t", "1", "keeper", timeout=60)  # sleep as pid 1 ignores SIGTERM: killed after 1 s
    assert time.monotonic() - started < 10, "the container's stop was held up by its execs"
    assert _inspect(eng, "keeper")["State"]["Status"] == "exited"  # type: ignore[index]
    assert not process_alive(init) and not any(_pids(init).values())
    eng.docker("rm", "keeper", timeout=60)


def test_a_detached_tty_exec_with_much_output_is_not_blocked(engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    """`exec -d -t` writing far more than a pty holds finishes: the monitor reads its pty
    while the daemon is up too (nothing read it before, and the writer blocked)."""
    engine.docker("pull", "-q", images.busybox, timeout=300)
    cid = engine.docker("run", "-d", images.busybox, "sleep", "600").stdout.strip()
    try:
        script = "i=0; while [ $i -lt 40000 ]; do echo line-$i-0123456789; i=$((i+1)); done; touch /tmp/done"
        engine.docker("exec", "-d", "-t", cid, "sh", "-c", script)
        deadline = time.monotonic() + 60
        while engine.docker("exec", cid, "test", "-e", "/tmp/done", check=False).returncode != 0:
            assert time.monotonic() < deadline, "the detached TTY exec blocked on its unread pty"
            time.sleep(0.5)
    finally:
        engine.docker("rm", "-f", cid, check=False)
