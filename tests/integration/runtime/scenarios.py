"""Monitor scenarios run INSIDE the engine's namespace (`rootless unshare python scenarios.py NAME DIR`).

Each prints one JSON object with what it observed; test_monitor.py asserts on it.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
import urllib.request
from typing import Any, Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bundles  # noqa: E402

from rootless.config.paths import Paths  # noqa: E402
from rootless.runtime.crun import Crun  # noqa: E402
from rootless.runtime.logs import read_logs  # noqa: E402
from rootless.wire.stdcopy import Demuxer as FrameDecoder  # noqa: E402
from rootless.runtime.supervisor import Launched, Supervisor  # noqa: E402


def supervisor() -> Supervisor:
    paths = Paths.from_env()
    return Supervisor(paths, Crun("crun", paths.crun_state, "disabled"))


def prepare(workdir: str, name: str, args: List[str], terminal: bool = False, netns: bool = True,
            **options: Any) -> Tuple[Supervisor, str, str]:
    sup, container_id, log, _ = prepare_launched(workdir, name, args, terminal, netns, **options)
    return sup, container_id, log


def prepare_launched(workdir: str, name: str, args: List[str], terminal: bool = False, netns: bool = True,
                     **options: Any) -> Tuple[Supervisor, str, str, Launched]:
    sup = supervisor()
    container_id = f"{name}-{os.getpid()}"
    bundle = os.path.join(workdir, container_id)
    os.makedirs(bundle)
    bundles.make_bundle(bundle, args, terminal=terminal, netns=netns)
    log = os.path.join(workdir, container_id + "-json.log")
    launched = sup.launch(sup.new_config(container_id, bundle, log, tty=terminal, **options))
    return sup, container_id, log, launched


def read_frames(conn: socket.socket) -> List[List[Any]]:
    decoder = FrameDecoder()
    frames: List[List[Any]] = []
    while True:
        data = conn.recv(65536)
        if not data:
            return frames
        frames += [[stream, payload.decode()] for stream, payload in decoder.feed(data)]


def log_entries(log: str) -> List[List[str]]:
    return [[e.stream, e.data.decode()] for e in read_logs(log)]


def output_and_exit(workdir: str) -> Dict[str, Any]:
    sup, cid, log = prepare(workdir, "out", ["sh", "-c", "echo out; echo err >&2; exit 3"])
    conn = sup.attach(cid, False, True, True)
    sup.start(cid)
    frames = read_frames(conn)
    record = sup.wait_exit(cid, 10)
    return {"frames": frames, "exit": record, "log": log_entries(log), "alive": _alive_after(sup, cid, 2.0)}


def journald_and_none(workdir: str) -> Dict[str, Any]:
    """Issue 11: the monitor sends lines to a journal socket (bound here) and keeps the file;
    with none it keeps nothing."""
    from rootless.runtime.logs import LogSettings

    journal_path = os.path.join(workdir, "journal.sock")
    journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    journal.bind(journal_path)
    fields = {"CONTAINER_NAME": "web", "CONTAINER_ID": "abc"}
    settings = LogSettings(driver="journald", journal_socket=journal_path, journal_fields=fields).to_json()
    sup, cid, log = prepare(workdir, "journal", ["sh", "-c", "echo out; echo err >&2"], log_settings=settings)
    sup.start(cid)
    sup.wait_exit(cid, 10)
    journal.settimeout(5)
    datagrams = sorted(journal.recv(65536).decode() for _ in range(2))
    none = LogSettings(driver="none", keep_file=False).to_json()
    sup2, cid2, log2 = prepare(workdir, "nolog", ["echo", "gone"], log_settings=none)
    sup2.start(cid2)
    sup2.wait_exit(cid2, 10)
    return {"journal": datagrams, "log": log_entries(log), "none_file": os.path.exists(log2)}


def _alive_after(sup: Supervisor, cid: str, seconds: float) -> bool:
    """Whether the monitor still runs after seconds: exit.json may precede its end by ~20 ms."""
    deadline = time.monotonic() + seconds
    while sup.is_alive(cid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return sup.is_alive(cid)


def stdin_once(workdir: str) -> Dict[str, Any]:
    sup, cid, log = prepare(workdir, "stdin", ["cat"], open_stdin=True, stdin_once=True)
    conn = sup.attach(cid, True, True, True)
    sup.start(cid)
    conn.sendall(b"hello\nworld\n")
    conn.shutdown(socket.SHUT_WR)
    frames = read_frames(conn)
    return {"frames": frames, "exit": sup.wait_exit(cid, 10), "log": log_entries(log)}


def sigkill(workdir: str) -> Dict[str, Any]:
    sup, cid, _ = prepare(workdir, "kill", ["sleep", "100"])
    sup.start(cid)
    sup.kill(cid, "KILL")
    return {"exit": sup.wait_exit(cid, 10)}


def tty(workdir: str) -> Dict[str, Any]:
    sup, cid, log = prepare(workdir, "tty", ["sh", "-c", "tty; stty size; echo hi"], terminal=True)
    conn = sup.attach(cid, False, True, True)
    sup.resize(cid, 40, 100)
    sup.start(cid)
    frames = read_frames(conn)
    return {"frames": frames, "exit": sup.wait_exit(cid, 10), "log": log_entries(log)}


def survives_parent(workdir: str) -> Dict[str, Any]:
    """Launch from a child that is then SIGKILLed; a new Supervisor finds the monitor."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        _, cid, _ = prepare(workdir, "orphan", ["sh", "-c", "sleep 1; echo late"])
        os.write(write_end, cid.encode())
        time.sleep(100)
    os.close(write_end)
    cid = os.read(read_end, 200).decode()
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    sup = supervisor()
    alive = sup.is_alive(cid)
    conn = sup.attach(cid, False, True, True)
    sup.start(cid)
    frames = read_frames(conn)
    return {"alive_after_parent_death": alive, "frames": frames, "exit": sup.wait_exit(cid, 10)}


def _run_to_exit(sup: Supervisor, workdir: str, name: str, code: int) -> Dict[str, Any]:
    cid = f"{name}-{os.getpid()}"
    bundle = os.path.join(workdir, cid)
    os.makedirs(bundle)
    bundles.make_bundle(bundle, ["sh", "-c", f"echo {name}; exit {code}"])
    sup.launch(sup.new_config(cid, bundle, os.path.join(workdir, cid + "-json.log")))
    conn = sup.attach(cid, False, True, True)
    sup.start(cid)
    return {"frames": read_frames(conn), "exit": sup.wait_exit(cid, 10)["ExitCode"]}


def zygote_restart(workdir: str) -> Dict[str, Any]:
    """Monitors come from the zygote; after it is killed, launches still work (exec, then a new zygote)."""
    sup = supervisor()
    results = {"first": _run_to_exit(sup, workdir, "first", 1)}
    assert sup.zygote is not None
    first_zygote = sup.zygote._child.pid
    os.kill(first_zygote, signal.SIGKILL)
    results["after_kill"] = _run_to_exit(sup, workdir, "after", 2)
    results["again"] = _run_to_exit(sup, workdir, "again", 3)
    results["new_zygote"] = sup.zygote._child is not None and sup.zygote._child.pid != first_zygote
    sup.close()
    results["exec_only"] = _run_to_exit(Supervisor(sup.paths, sup.crun, use_zygote=False), workdir, "exec", 4)
    return results


def network(workdir: str, backend: str = "slirp4netns") -> Dict[str, Any]:
    script = "echo hello-from-ctr > /www/index.html; ip -4 addr; exec httpd -f -p 80 -h /www"
    sup, cid, _, launched = prepare_launched(
        workdir, "net", ["sh", "-c", script], network=backend,
        ports=[{"proto": "tcp", "container_port": 80, "host_ip": "127.0.0.1"}])
    conn = sup.attach(cid, False, True, True)
    sup.start(cid)
    body = ""
    try:
        body = _fetch(f"http://127.0.0.1:{launched.ports[0]['host_port']}/index.html")
    finally:
        sup.kill(cid, "KILL")
    return {"body": body, "ports": launched.ports, "frames": read_frames(conn), "exit": sup.wait_exit(cid, 10)}


def _fetch(url: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)



def exec_process(workdir: str) -> Dict[str, Any]:
    """crun exec with pipes (exit code, stdin) and with a pty."""
    sup, cid, _ = prepare(workdir, "exec", ["sleep", "100"])
    sup.start(cid)
    base = {"cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
    result: Dict[str, Any] = {}
    try:
        with sup.exec(cid, "e1", {**base, "args": ["sh", "-c", "cat; echo err >&2; exit 7"]}, stdin=True) as ex:
            ex.stdin.write(b"piped\n")
            ex.stdin.close()
            out, err = ex.stdout.read(), ex.stderr.read()
            result["pipes"] = [out.decode(), err.decode(), ex.wait()]
        with sup.exec(cid, "e2", {**base, "args": ["sh", "-c", "tty; stty size"], "terminal": True}) as ex:
            ex.resize(30, 90)
            result["tty"] = [_read_pty(ex.master_fd), ex.wait(10)]
        with sup.exec(cid, "e3", {**base, "args": ["sh", "-c", "kill -9 $$"]}) as ex:
            ex.stdout.read()
            result["killed"] = ex.wait()
    finally:
        sup.kill(cid, "KILL")
    result["exit"] = sup.wait_exit(cid, 10)
    return result


def _read_pty(fd: int) -> str:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data.decode()


def slow_client(workdir: str) -> Dict[str, Any]:
    """8 MB of output while the attached client does not read: the container is not blocked."""
    script = ("x=$(head -c 10000 /dev/zero | tr '\\0' x); i=0; "
              "while [ $i -lt 800 ]; do echo $x; i=$((i+1)); done")
    sup, cid, log = prepare(workdir, "slow", ["sh", "-c", script])
    conn = sup.attach(cid, False, True, True)
    sup.start(cid)
    record = sup.wait_exit(cid, 20)  # while nobody reads the attach socket
    received = sum(len(payload) for _, payload in read_frames(conn))
    lines = [e.data for e in read_logs(log)]
    return {"exit": record, "received": received, "log_lines": len(lines),
            "log_bytes": sum(len(line) for line in lines)}


def failures(workdir: str) -> Dict[str, Any]:
    """What launch raises when crun create fails and when the log dir is missing."""
    result: Dict[str, Any] = {}
    try:
        prepare(workdir, "nocmd", ["no-such-command"])
    except Exception as exc:  # noqa: BLE001 - reported to the test
        result["nocmd"] = [type(exc).__name__, str(exc)]
    sup = supervisor()
    bundle = bundles.make_bundle(os.path.join(workdir, "nolog"), ["true"])
    try:
        sup.launch(sup.new_config(f"nolog-{os.getpid()}", bundle, "/nonexistent/dir/log"))
    except Exception as exc:  # noqa: BLE001
        result["nolog"] = [type(exc).__name__, str(exc)]
    result["left"] = sorted(os.listdir(sup.paths.crun_state)) if os.path.isdir(sup.paths.crun_state) else []
    return result


def network_pasta(workdir: str) -> Dict[str, Any]:
    result = network(workdir, "pasta")
    port = str(result["ports"][0]["host_port"]).encode()
    result["pasta_left"] = [pid for pid in os.listdir("/proc") if pid.isdigit() and _is_pasta(pid, port)]
    return result


def _is_pasta(pid: str, port: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return False
    return cmdline.startswith(b"pasta") and b"/" + port + b":" in cmdline


if __name__ == "__main__":
    result = globals()[sys.argv[1]](sys.argv[2])
    print(json.dumps(result))
