"""Floors of the run path by architecture: what `docker run --rm busybox true` could cost at best.

Start as root. Times, as the unprivileged --user inside a user+mount+network
namespace of its own (`unshare -U --map-root-user --map-auto -m -n`, newuidmap
for the subordinate range, /sys/fs/cgroup masked by a tmpfs, crun with
--cgroup-manager=disabled: our engine's set-up), on one busybox bundle
(overlay rootfs, the config.json our engine writes), round-robin, each method
--runs times (the helper is the init of a pid namespace of its own, so nothing outlives it):

  run          `crun run` of `true`, attached, crun makes the netns (the existing floor)
  create+start `crun create`, `crun start`, waitpid of the init (we are its subreaper)
  create+fifo  `crun create`, then `crun start`'s own work done here: write the exec fifo
  conmon       conmon -> `crun create` (conmon.conmon_argv), `crun start`, conmon's exit file
  *+net-pre    the same with a netns made and wired (veth into a bridge, addresses, route)
               before `crun create`: the cost when wiring is not overlapped or pre-made
  *+net-mid    the netns crun made, wired between create and start (what the daemon does)
  zygote-exec  a request to a pre-imported Python that os.forks a child which execs `crun run`
  zygote-sub   ... a forked child that runs `crun run` with subprocess (our monitor's way)
  big-sub      a request to a Python with a daemon-sized heap that runs `crun run` with subprocess
  docker-cli   `docker run --rm busybox true` against a fake Engine API that answers at once
  docker-version  `docker --version`: the CLI's start-up share of docker-cli
  net-wire     making and wiring a netns alone; overlay: mount + umount of the rootfs

and prints median and p90 with the implied lower bound of `docker run --rm
busybox true` per architecture: docker-cli + method + the daemon's own Python
(--daemon-ms). See bench/README.md, "Run-path floors by architecture".

The config: --config FILE, or (default) one taken from a real container of an
engine on --source (`docker run -d busybox sleep 100`, the bundle's config.json;
the second container's, which carries the engine's cached seccomp filter as every
run after the engine's first does).
Everything made (mounts, netns files, processes, the work dir) is removed at the end.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import http.server
import json
import os
import select
import shutil
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRUN, CONMON, DOCKER = "/usr/bin/crun", "/usr/bin/conmon", shutil.which("docker") or "/usr/bin/docker"
IP = shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin:/bin") or "ip"
DAEMON_MS = 5.0  # the daemon's share on the critical path: engine - docker-cli - conmon+net-mid, session 12 (bench/README.md)
BIG_HEAP_MB = 66  # rootlessd's RSS on the measured VM (ps, session 11)
BRIDGE, SUBNET_PREFIX, PREFIXLEN = "rfbr0", "10.89", 16
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MNT_DETACH = 0x2, 0x4, 0x1000, 0x2
PR_SET_CHILD_SUBREAPER = 36
SECCOMP_BPF_ANNOTATION = "run.oci.seccomp_bpf_data"  # rootless/runtime/seccomp_cache.py
IN_CLOSE_WRITE, IN_MOVED_TO = 0x8, 0x80

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def mount(source: str, target: str, fstype: Optional[str], flags: int, data: Optional[str]) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


def umount(target: str) -> None:
    _check(_libc.umount2(target.encode(), MNT_DETACH), f"umount {target}")


# -- the bundle ---------------------------------------------------------------------------------

class Bundle:
    """work/: lower (busybox), upper, work, merged (mounted for the whole run), state, bundles."""

    def __init__(self, work: str, template: Dict[str, Any]) -> None:
        self.work = work
        self.state = self.path("state")
        self.merged = self.path("merged")
        self.netns_file = self.path("netns-pre")  # net-pre: the netns bind-mounted here
        self.plain = self.path("bundle")  # crun makes the netns
        self.pre = self.path("bundle-pre")  # network namespace path = netns_file
        for name in ("upper", "work", "merged", "merged2", "state", "bundle", "bundle-pre", "monitors"):
            os.makedirs(self.path(name), exist_ok=True)
        open(self.netns_file, "w").close()
        for name in ("hostname", "hosts", "resolv.conf"):
            with open(self.path(name), "w") as f:
                f.write({"hostname": "floor\n", "hosts": "127.0.0.1 localhost\n"}.get(name, ""))
        self.write_config(self.plain, template, None)
        self.write_config(self.pre, template, self.netns_file)

    def path(self, name: str) -> str:
        return os.path.join(self.work, name)

    def write_config(self, bundle: str, template: Dict[str, Any], netns: Optional[str]) -> None:
        """The engine's config with this rootfs, `true`, our own files for the /etc binds."""
        config = json.loads(json.dumps(template))
        config["root"] = {"path": self.merged, "readonly": False}
        config["process"]["args"] = ["true"]
        config["hostname"] = "floor"
        for entry in config["mounts"]:
            name = os.path.basename(entry["destination"])
            if entry["destination"].startswith("/etc/") and name in ("hostname", "hosts", "resolv.conf"):
                entry["source"] = self.path(name)
        for ns in config["linux"]["namespaces"]:
            if ns["type"] == "network" and netns:
                ns["path"] = netns
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(config, f)

    def overlay_data(self) -> str:
        return (f"lowerdir={self.path('lower')},upperdir={self.path('upper')},workdir={self.path('work')},"
                "userxattr")

    def crun(self, *args: str) -> List[str]:
        return [CRUN, "--cgroup-manager=disabled", "--root", self.state, *args]


def run_quiet(argv: List[str]) -> None:
    """Run a tool off the clock; its failure ends the benchmark with its message."""
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr.strip()}")


def delete_container(bundle: Bundle, cid: str) -> None:
    if os.path.exists(os.path.join(bundle.state, cid)):
        run_quiet(bundle.crun("delete", "--force", cid))


# -- network namespaces ------------------------------------------------------------------------

def make_bridge() -> None:
    """The bridge our engine would own, in this helper's (new) network namespace."""
    for argv in (["link", "add", BRIDGE, "type", "bridge"], ["addr", "add", f"{SUBNET_PREFIX}.0.1/16", "dev", BRIDGE],
                 ["link", "set", BRIDGE, "up"], ["link", "set", "lo", "up"]):
        run_quiet([IP, *argv])


def in_thread(action: Callable[[], None]) -> None:
    """Run action in a thread of its own (a thread that changed netns must not be reused) and wait."""
    errors: List[BaseException] = []

    def body() -> None:
        try:
            action()
        except BaseException as exc:  # noqa: B036  (re-raised in the caller)
            errors.append(exc)
    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def configure_inside(netns: str, index: int) -> None:
    """Enter netns (this thread only) and give eth0 its address, up, lo up, default route (rtnl)."""
    from rootless.runtime.network import rtnl
    fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), "setns")
    finally:
        os.close(fd)
    rtnl.configure_container_end("eth0", address_of(index), PREFIXLEN, "", f"{SUBNET_PREFIX}.0.1", True)


def address_of(index: int) -> str:
    return f"{SUBNET_PREFIX}.{1 + index // 250 % 250}.{2 + index % 250}"


def wire(netns: str, index: int) -> None:
    """What the daemon does for a bridge network: veth into the bridge here, the inside in a setns thread."""
    from rootless.runtime.network import rtnl
    rtnl.add_bridge_port(f"rfv{index}", "eth0", netns, BRIDGE)
    in_thread(lambda: configure_inside(netns, index))


def make_netns(path: str) -> None:
    """A new netns, bind-mounted on path (made from a throw-away thread)."""
    def body() -> None:
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path, None, MS_BIND, None)
    in_thread(body)


# -- waiting ----------------------------------------------------------------------------------

class ExitFile:
    """inotify on a directory until conmon's exit file is there (the daemon's wait)."""

    def __init__(self, directory: str, name: str = "exit") -> None:
        self.path = os.path.join(directory, name)
        self.fd = _check(_libc.inotify_init1(os.O_CLOEXEC), "inotify_init1")
        _check(_libc.inotify_add_watch(self.fd, directory.encode(), IN_CLOSE_WRITE | IN_MOVED_TO), "inotify watch")

    def wait(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.path):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"no exit file {self.path} after {timeout}s")
            if select.select([self.fd], [], [], remaining)[0]:
                os.read(self.fd, 65536)

    def close(self) -> None:
        os.close(self.fd)


def read_pid(path: str) -> int:
    with open(path) as f:
        return int(f.read().strip())


# -- the methods: each times one container start to exit and cleans up off the clock ----------

def m_run(b: Bundle, i: int) -> float:
    """crun run, attached (stdout/stderr pipes read to the end), crun makes the netns."""
    start = time.perf_counter()
    result = subprocess.run(b.crun("run", "--bundle", b.plain, f"run{i}"), stdin=subprocess.DEVNULL,
                            capture_output=True)
    took = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"crun run: {result.stderr.decode(errors='replace').strip()}")
    delete_container(b, f"run{i}")
    return took


def create_start(b: Bundle, i: int, net: str) -> float:
    """crun create + crun start + waitpid of the init; stdio: one pipe we hold. net: '', 'pre', 'mid'."""
    cid, pid_file = f"cs{net}{i}", b.path(f"cs{i}.pid")
    read_end, write_end = os.pipe()
    start = time.perf_counter()
    if net == "pre":
        make_netns(b.netns_file)
        wire(b.netns_file, i)
    bundle = b.pre if net == "pre" else b.plain
    subprocess.run(b.crun("create", "--bundle", bundle, "--pid-file", pid_file, cid), check=True,
                   stdin=subprocess.DEVNULL, stdout=write_end, stderr=write_end)
    os.close(write_end)
    pid = read_pid(pid_file)
    if net == "mid":
        wire(f"/proc/{pid}/ns/net", i)
    subprocess.run(b.crun("start", cid), check=True, stdin=subprocess.DEVNULL)
    took = _reap_and_delete(b, cid, pid, pid_file, read_end, start, "create+start")
    if net == "pre":
        umount(b.netns_file)
    return took


def m_create_fifo(b: Bundle, i: int) -> float:
    """crun create, then what `crun start` does, done here: write the exec fifo (one exec fewer)."""
    cid, pid_file = f"cf{i}", b.path(f"cf{i}.pid")
    read_end, write_end = os.pipe()
    start = time.perf_counter()
    subprocess.run(b.crun("create", "--bundle", b.plain, "--pid-file", pid_file, cid), check=True,
                   stdin=subprocess.DEVNULL, stdout=write_end, stderr=write_end)
    os.close(write_end)
    pid = read_pid(pid_file)
    fifo = os.path.join(b.state, cid, "exec.fifo")
    fd = os.open(fifo, os.O_WRONLY | os.O_CLOEXEC)  # crun's init reads it (runc's is the reverse)
    try:
        os.write(fd, b"1")
    finally:
        os.close(fd)
    os.unlink(fifo)  # as crun start does: the state reads "running" from here on
    return _reap_and_delete(b, cid, pid, pid_file, read_end, start, "create+fifo")


def _reap_and_delete(b: Bundle, cid: str, pid: int, pid_file: str, read_end: int, start: float, method: str) -> float:
    """Seconds from start until the container's init (our child via crun create) exited 0; then its
    output pipe drained and closed, the container deleted and its pid file removed."""
    _, status = os.waitpid(pid, 0)
    took = time.perf_counter() - start
    os.read(read_end, 65536)
    os.close(read_end)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{method}: container exited {os.waitstatus_to_exitcode(status)}")
    delete_container(b, cid)
    os.unlink(pid_file)
    return took


def conmon_launch(b: Bundle, cid: str, bundle: str, directory: str) -> int:
    """conmon as Conmon.launch starts it (argv from conmon_argv, sync pipe); the container's pid."""
    from rootless.runtime import conmon
    from rootless.runtime.crun import Crun
    from rootless.runtime.monitor_protocol import MonitorConfig
    config = MonitorConfig(container_id=cid, bundle=bundle, crun_binary=CRUN, crun_root=b.state,
                           cgroup_manager="disabled", log_path=os.path.join(directory, f"{cid}-json.log"),
                           monitor_dir=directory)
    sync_r, sync_w = os.pipe()
    env = conmon.tool_env(os.environ)
    env.update({"_OCI_SYNCPIPE": str(sync_w), "TMPDIR": os.path.dirname(directory)})
    with open(os.path.join(directory, "monitor.log"), "ab") as log:
        starter = subprocess.Popen(conmon.conmon_argv(CONMON, Crun(CRUN, b.state, "disabled"), config),
                                   pass_fds=(sync_w,), env=env, cwd=directory, stdin=subprocess.DEVNULL, stderr=log)
    os.close(sync_w)
    try:
        if starter.wait(30) != 0:
            raise RuntimeError(f"conmon exited {starter.returncode}")
        report = conmon.read_sync_line(sync_r, 30)
    finally:
        os.close(sync_r)
    if not report or int(report.get("data", -1)) <= 0:
        raise RuntimeError(f"conmon: create failed: {report}")
    return int(report["data"])


def m_conmon(b: Bundle, i: int, net: str) -> float:
    """conmon -> crun create; crun start; conmon's exit file (our path today, minus the daemon)."""
    cid = f"cm{net}{i}"
    directory = b.path(os.path.join("monitors", cid))
    os.mkdir(directory)
    exit_file = ExitFile(directory)
    start = time.perf_counter()
    if net == "pre":
        make_netns(b.netns_file)
        wire(b.netns_file, i)
    pid = conmon_launch(b, cid, b.pre if net == "pre" else b.plain, directory)
    if net == "mid":
        wire(f"/proc/{pid}/ns/net", i)
    subprocess.run(b.crun("start", cid), check=True, stdin=subprocess.DEVNULL)
    exit_file.wait()
    took = time.perf_counter() - start
    exit_file.close()
    reap_conmon(directory)
    if net == "pre":
        umount(b.netns_file)
    shutil.rmtree(directory)
    return took


def reap_conmon(directory: str) -> None:
    """conmon was re-parented to us (subreaper): wait for it (it runs crun delete first)."""
    from rootless.runtime import conmon
    pid = read_pid(os.path.join(directory, conmon.CONMON_PIDFILE))
    os.waitpid(pid, 0)
    with open(os.path.join(directory, "exit")) as f:
        if f.read().strip() != "0":
            raise RuntimeError("conmon: the container did not exit 0")


def m_net_wire(b: Bundle, i: int) -> float:
    """A netns made and wired, no container: what net-pre adds, were it done ahead of time."""
    start = time.perf_counter()
    make_netns(b.netns_file)
    wire(b.netns_file, i)
    took = time.perf_counter() - start
    umount(b.netns_file)
    return took


def m_overlay(b: Bundle, i: int) -> float:
    """Mount and unmount the container's overlay (on a second mount point; the run keeps its own)."""
    del i
    target = b.path("merged2")
    start = time.perf_counter()
    mount("overlay", target, "overlay", MS_NOSUID | MS_NODEV, b.overlay_data().replace("/upper,", "/upper2,")
          .replace("/work,", "/work2,"))
    umount(target)
    return time.perf_counter() - start


# -- forked launchers: a zygote (small, pre-imported) and a daemon-sized parent -----------------

class Launcher:
    """A child of this helper that starts `crun run` on request: b'e' fork+exec, b's' fork then
    subprocess in the child (the zygote's monitor), b'p' subprocess from itself (the big parent)."""

    def __init__(self, b: Bundle, heap_mb: int = 0) -> None:
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            code = 1
            try:
                os.close(self.req_w)
                os.close(self.resp_r)
                code = serve_launches(b, req_r, resp_w, heap_mb)
            finally:
                os._exit(code)
        os.close(req_r)
        os.close(resp_w)

    def time(self, kind: bytes, i: int) -> float:
        start = time.perf_counter()
        os.write(self.req_w, kind + struct.pack("=I", i))
        status = os.read(self.resp_r, 1)
        took = time.perf_counter() - start
        if status != b"\0":
            raise RuntimeError(f"launcher {kind!r}: crun run failed ({status!r})")
        return took

    def close(self) -> None:
        os.close(self.req_w)
        os.waitpid(self.pid, 0)
        os.close(self.resp_r)


def serve_launches(b: Bundle, req_r: int, resp_w: int, heap_mb: int) -> int:
    heap = bytearray(heap_mb << 20)
    for offset in range(0, len(heap), 4096):  # touched: resident, as a daemon's heap is
        heap[offset] = 1
    while True:
        request = os.read(req_r, 5)
        if len(request) < 5:
            return 0
        cid = f"l{request[:1].decode()}{struct.unpack('=I', request[1:])[0]}"
        argv = b.crun("run", "--bundle", b.plain, cid)
        if request[:1] == b"p":
            ok = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True).returncode == 0
        else:
            ok = fork_and_run(argv, exec_directly=request[:1] == b"e")
        os.write(resp_w, b"\0" if ok else b"\1")


def fork_and_run(argv: List[str], exec_directly: bool) -> bool:
    """os.fork (Python goes on in the child, as in the zygote); the child execs crun or runs it."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if exec_directly:
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                os.dup2(write_end, 1)
                os.dup2(write_end, 2)
                os.execv(argv[0], argv)
            code = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True).returncode
        finally:
            os._exit(code)
    os.close(write_end)
    while os.read(read_end, 65536):
        pass
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


# -- the docker CLI against an Engine API that answers at once --------------------------------

FAKE_ID = "f" * 64


class FakeEngine(http.server.BaseHTTPRequestHandler):
    """_ping, create, attach (101, then EOF), wait ({"StatusCode":0}), start: nothing else."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (quiet)
        pass

    def reply(self, code: int, body: bytes = b"", kind: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Api-Version", "1.45")
        self.send_header("Ostype", "linux")
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.reply(200, b"", "text/plain")

    def do_GET(self) -> None:
        if self.path.endswith("/_ping"):
            self.reply(200, b"OK", "text/plain")
        else:
            self.reply(404, b'{"message":"not in the fake"}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?")[0]
        if path.endswith("/containers/create"):
            self.reply(201, json.dumps({"Id": FAKE_ID, "Warnings": []}).encode())
        elif path.endswith("/attach"):
            self.send_response(101)
            self.send_header("Content-Type", "application/vnd.docker.raw-stream")
            self.send_header("Connection", "Upgrade")
            self.send_header("Upgrade", "tcp")
            self.end_headers()
            self.close_connection = True
        elif path.endswith("/wait"):
            self.reply(200, b'{"StatusCode":0,"Error":null}\n')
        elif path.endswith("/start"):
            self.reply(204)
        else:
            self.reply(404, b'{"message":"not in the fake"}')


class FakeServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@contextlib.contextmanager
def fake_engine(path: str) -> Iterator[None]:
    server = FakeServer(path, FakeEngine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        os.unlink(path)


def m_docker_cli(env: Dict[str, str], *args: str) -> float:
    """docker ARGS (default: run --rm busybox true) against the fake engine."""
    start = time.perf_counter()
    result = subprocess.run([DOCKER, *(args or ("run", "--rm", "busybox", "true"))], env=env,
                            stdin=subprocess.DEVNULL, capture_output=True)
    took = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"docker against the fake: {result.stderr.decode(errors='replace').strip()}")
    return took


# -- the helper inside the namespaces ----------------------------------------------------------

def prepare(work: str) -> Bundle:
    """Unpack busybox, mount the rootfs overlay for the whole run, make the bridge."""
    with open(os.path.join(work, "config.json")) as f:
        template = json.load(f)
    for name in ("lower", "upper2", "work2", "dockercfg"):
        os.makedirs(os.path.join(work, name), exist_ok=True)
    run_quiet(["tar", "-xf", os.path.join(work, "layer.tar"), "-C", os.path.join(work, "lower")])
    b = Bundle(work, template)
    mount("overlay", b.merged, "overlay", MS_NOSUID | MS_NODEV, b.overlay_data())
    make_bridge()
    return b


def methods_for(b: Bundle, zygote: Launcher, big: Launcher, env: Dict[str, str]) -> Dict[str, Callable[[int], float]]:
    return {
        "run": lambda i: m_run(b, i),
        "create+start": lambda i: create_start(b, i, ""),
        "create+fifo": lambda i: m_create_fifo(b, i),
        "conmon": lambda i: m_conmon(b, i, ""),
        "create+start+net-pre": lambda i: create_start(b, i, "pre"),
        "create+start+net-mid": lambda i: create_start(b, i, "mid"),
        "conmon+net-pre": lambda i: m_conmon(b, i, "pre"),
        "conmon+net-mid": lambda i: m_conmon(b, i, "mid"),
        "zygote-exec": lambda i: zygote.time(b"e", i),
        "zygote-sub": lambda i: zygote.time(b"s", i),
        "big-sub": lambda i: big.time(b"p", i),
        "docker-cli": lambda i: m_docker_cli(env),
        "docker-version": lambda i: m_docker_cli(env, "--version"),
        "net-wire": lambda i: m_net_wire(b, i),
        "overlay": lambda i: m_overlay(b, i),
    }


def engine_method(work: str) -> Dict[str, Callable[[int], float]]:
    """`docker run --rm` on our engine, from in here (its socket is a path; SO_PEERCRED maps to the same
    user); then 50 ms for its conmon's `crun delete`, so that it lands on no other method's clock."""
    with open(os.path.join(work, "engine.json")) as f:
        engine: Dict[str, str] = json.load(f)
    if not engine:
        return {}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": work, "DOCKER_HOST": engine["DOCKER_HOST"],
           "DOCKER_CONFIG": engine["DOCKER_CONFIG"]}

    def run(i: int) -> float:
        took = m_docker_cli(env, "run", "--rm", engine["image"], "true")
        time.sleep(0.05)
        return took
    return {"engine (ours)": run}


def alternate(methods: Dict[str, Callable[[int], float]], runs: int, warmup: int) -> Dict[str, List[float]]:
    """Round-robin, so that machine noise hits every method alike; the warm-up rounds are dropped."""
    samples: Dict[str, List[float]] = {name: [] for name in methods}
    for round_ in range(warmup + runs):
        for index, (name, action) in enumerate(methods.items()):
            took = action(round_ * len(methods) + index)
            if round_ >= warmup:
                samples[name].append(took)
    return samples


def inner(work: str, runs: int, warmup: int, only: List[str]) -> int:
    """In the user+mount+net namespace: set up, time, print the samples as one JSON line."""
    _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")
    mount("tmpfs", "/sys/fs/cgroup", "tmpfs", 0, None)  # crun 1.8.1 aborts on this hybrid host otherwise
    b = prepare(work)
    launchers = [Launcher(b), Launcher(b, BIG_HEAP_MB)]  # forked before any thread starts
    sock = os.path.join(work, "docker.sock")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": work, "DOCKER_HOST": f"unix://{sock}",
           "DOCKER_CONFIG": os.path.join(work, "dockercfg")}
    try:
        with fake_engine(sock):
            methods = methods_for(b, launchers[0], launchers[1], env)
            methods.update(engine_method(work))
            if only:
                methods = {name: methods[name] for name in only}
            samples = alternate(methods, runs, warmup)
    finally:
        for launcher in reversed(launchers):  # the later child holds the earlier one's request pipe
            launcher.close()
        umount(b.merged)
    print(json.dumps({"samples": samples, "loadavg": os.getloadavg()}))
    return 0


# -- the driver (root) -------------------------------------------------------------------------

@contextlib.contextmanager
def our_engine(args: argparse.Namespace) -> Iterator[Tuple[Dict[str, Any], Dict[str, str]]]:
    """An engine on --source with busybox: the config.json it writes for `docker run -d busybox
    sleep 100`, and what the helper needs to time `docker run --rm` on it (image, socket, config dir).

    The config is the second container's: the engine hands crun the seccomp filter it compiled
    for the first one (run.oci.seccomp_bpf_data, runtime/seccomp_cache.py), as every run after
    an engine's first gets it. The first's config makes crun compile the profile with libseccomp
    at each create, ~11 ms that no real run pays (session 11's floors had it: bench/README.md).
    """
    sys.path.insert(0, REPO)
    from bench import harness
    with contextlib.ExitStack() as stack:
        _, images, engine = harness.set_up(stack, args)
        config: Dict[str, Any] = {}
        for _ in range(2):
            cid = engine.docker("run", "-d", images.busybox, "sleep", "100").stdout.strip()
            with open(os.path.join(engine.run_dir, "monitors", cid, "bundle", "config.json")) as f:
                config = json.load(f)
            engine.docker("rm", "-f", cid)
        if SECCOMP_BPF_ANNOTATION not in (config.get("annotations") or {}):
            print("note: the engine's config has no cached seccomp filter: crun compiles it at every create",
                  file=sys.stderr)
        yield config, {"image": images.busybox, "DOCKER_HOST": engine.env["DOCKER_HOST"],
                       "DOCKER_CONFIG": engine.env["DOCKER_CONFIG"]}


def run_inner(args: argparse.Namespace, config: Dict[str, Any], engine: Dict[str, str]) -> Dict[str, Any]:
    """Write the layer and config into a work dir of the user's; run the helper in its namespaces."""
    sys.path.insert(0, REPO)
    from bench import harness
    from tests import imagebuild
    user = harness.bench_user(args.user, args.source)
    work = harness.user_tmpdir(user, "rootless-runfloors-")
    try:
        files = (("layer.tar", imagebuild.busybox_rootfs()), ("config.json", json.dumps(config).encode()),
                 ("engine.json", json.dumps(engine).encode()))
        for name, data in files:
            with open(os.path.join(work, name), "wb") as f:
                f.write(data)
            os.chmod(os.path.join(work, name), 0o644)
        # A pid namespace with the helper as its init: whatever it leaves (a container init, a conmon)
        # dies with it, even on a timeout; --kill-child: and the helper dies with unshare.
        argv = ["unshare", "-U", "--map-root-user", "--map-auto", "-m", "-n", "-p", "--fork", "--kill-child",
                "--mount-proc", harness.VENV_PYTHON,
                os.path.abspath(__file__), "--inner", work, "--runs", str(args.runs), "--warmup", str(args.warmup)]
        argv += [x for name in args.only for x in ("--only", name)]
        out = user.run(argv, timeout=120 + 30 * (args.runs + args.warmup)).stdout
        result: Dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result
    finally:
        harness.remove_tree(work)


NOTES = {
    "run": "crun run, attached, new netns by crun (the existing floor)",
    "create+start": "crun create, crun start, waitpid; stdio pipes held here",
    "create+fifo": "crun create, then write crun's exec.fifo here instead of `crun start`",
    "conmon": "conmon -> crun create, crun start, exit file (today's path minus the daemon)",
    "create+start+net-pre": "netns made+wired before create (on the clock)",
    "create+start+net-mid": "wired between create and start (the daemon's way)",
    "conmon+net-pre": "conmon, netns made+wired before create",
    "conmon+net-mid": "conmon, wired between create and start (today's path)",
    "zygote-exec": "request -> pre-imported Python forks, child execs crun run",
    "zygote-sub": "request -> forked child runs crun run with subprocess",
    "big-sub": f"request -> {BIG_HEAP_MB} MB Python runs crun run with subprocess",
    "docker-cli": "docker run --rm busybox true vs a fake API answering at once",
    "docker-version": "docker --version: the CLI's exec and Go start-up alone",
    "net-wire": "netns made + veth into bridge + addresses/route, no container",
    "overlay": "overlay mount + umount of the rootfs (not in the rows above)",
    "engine (ours)": "docker run --rm busybox true on our engine (--source), same rounds",
}
ARCHITECTURES = ("run", "zygote-exec", "zygote-sub", "big-sub", "create+fifo", "create+start", "create+start+net-pre",
                 "create+start+net-mid", "conmon", "conmon+net-pre", "conmon+net-mid")


def median_p90(values: List[float]) -> Tuple[float, float]:
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return median * 1000, ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))] * 1000


def report(result: Dict[str, Any], daemon_ms: float, podman_ms: float) -> None:
    samples: Dict[str, List[float]] = result["samples"]
    medians = {name: median_p90(values)[0] for name, values in samples.items() if values}
    n = min((len(v) for v in samples.values()), default=0)
    print(f"\nrun-path floors, n={n} per method, load average at the end {result['loadavg'][0]:.2f}")
    print(f"{'method':<22} {'median ms':>9} {'p90 ms':>8}  note")
    for name, values in samples.items():
        median, p90 = median_p90(values)
        print(f"{name:<22} {median:>9.1f} {p90:>8.1f}  {NOTES.get(name, '')}")
    if "docker-cli" not in medians:
        return
    cli = medians["docker-cli"]
    goal = 0.25 * podman_ms
    print(f"\nimplied lower bound of `docker run --rm busybox true` = docker-cli {cli:.1f} + method + daemon "
          f"Python {daemon_ms:.1f} ms; goal 0.25 x podman {podman_ms:.0f} = {goal:.1f} ms")
    if "engine (ours)" in medians and "conmon+net-mid" in medians:
        daemon = medians["engine (ours)"] - cli - medians["conmon+net-mid"]
        print(f"measured: our engine {medians['engine (ours)']:.1f} ms = docker-cli + conmon+net-mid + "
              f"{daemon:.1f} ms (the daemon's share on the critical path, by difference)")
    print(f"{'architecture':<26} {'bound ms':>8} {'ratio':>6} {'no daemon':>9}  daemon budget at the goal")
    rows = [(name, medians[name]) for name in ARCHITECTURES if name in medians]
    if "create+start+net-pre" in medians and "net-wire" in medians:  # wired ahead of time (a pool)
        rows.append(("create+start, pooled netns", medians["create+start+net-pre"] - medians["net-wire"]))
    for name, method in rows:
        bound = cli + method + daemon_ms
        print(f"{name:<26} {bound:>8.1f} {bound / podman_ms:>5.2f}x {(cli + method) / podman_ms:>8.2f}x  "
              f"{goal - cli - method:>6.1f} ms")


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--user", default=os.environ.get("ROOTLESS_TEST_USER", "rootless-test"))
    parser.add_argument("--source", default=REPO, help="tree whose engine writes the config (its rtnl, conmon argv)")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--config", help="a config.json from one of our containers (default: start an engine)")
    parser.add_argument("--only", action="append", default=[], help="time only this method (repeatable)")
    parser.add_argument("--daemon-ms", type=float, default=DAEMON_MS, help="the daemon's own Python per run")
    parser.add_argument("--podman-ms", type=float, default=132.0, help="podman run --rm busybox true, median")
    parser.add_argument("--json", help="also write the raw samples here")
    parser.add_argument("--no-bytecode-cache", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--inner", help=argparse.SUPPRESS)  # the helper's work dir
    args = parser.parse_args(argv)
    if args.inner:
        return inner(args.inner, args.runs, args.warmup, args.only)
    if os.geteuid() != 0:
        parser.error("start as root: the methods run as --user in namespaces made for it")
    if args.config:
        with open(args.config) as f:
            result = run_inner(args, json.load(f), {})
    else:
        with our_engine(args) as (config, engine):
            result = run_inner(args, config, engine)
    report(result, args.daemon_ms, args.podman_ms)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
