"""Shared pieces of the benchmarks: the user, our engine, podman, a registry, timing.

Benchmarks start as root (like CI) and drive everything as an unprivileged
user, reusing the integration fixtures' helpers (tests/integration/conftest.py)
so that both set the engine up the same way. Everything they start is torn
down by an ExitStack; storage is removed as root because layer files belong
to the user's subordinate ids.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import pwd
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Protocol, Sequence, Set, Tuple

from bench import user_timer
from tests import imagebuild
from tests.integration import conftest as it

REPO = it.REPO
VENV_PYTHON = it.VENV_PYTHON
DEFAULT_USER = os.environ.get("ROOTLESS_TEST_USER", "rootless-test")
# Where storage roots and scratch dirs go: the user's home, like the engine's and
# podman's defaults. Not /tmp: on the measured VM the same pull unpacked 1.5-3x
# slower under /tmp than under /home (same ext4 mount; bench/README.md).
WORK_DIR_ENV = "ROOTLESS_BENCH_DIR"

# podman on this hybrid-cgroup host (HOST-NOTES "Cgroups are hybrid"): no cgroups
# at all, and /sys/fs/cgroup masked by a tmpfs inside podman's own namespace
# (see Podman.mask_cgroups), else crun aborts with "cgroups in hybrid mode".
PODMAN_CONF = """\
[containers]
cgroups = "disabled"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "crun"
"""


# The graph driver every benchmark gives podman (see podman()); checked after set-up (Podman.graph_driver).
PODMAN_STORAGE_DRIVER = "overlay"


def bench_user(name: str, source: str = REPO) -> it.TestUser:
    """The unprivileged user, with a source tree (the work tree) on its PYTHONPATH (no install)."""
    entry = pwd.getpwnam(name)
    return it.TestUser(name, entry.pw_uid, entry.pw_gid, entry.pw_dir, {"PYTHONPATH": source})


@contextlib.contextmanager
def bytecode_cache(user: it.TestUser, enabled: bool = True) -> Iterator[None]:
    """Let the user's Pythons cache compiled modules (PYTHONPYCACHEPREFIX), as an installed package has them.

    The source tree is root's and the user can't write __pycache__ there, so without
    this every CLI call (and every exec'd helper) compiles the rootless modules again:
    25-60 ms per `rootless run` on the measured VM, a cost no installed copy pays.
    """
    if not enabled:
        yield
        return
    path = user_tmpdir(user, "rootless-bench-pycache-")
    user.base_env["PYTHONPYCACHEPREFIX"] = path
    try:
        yield
    finally:
        user.base_env.pop("PYTHONPYCACHEPREFIX", None)
        remove_tree(path)


def work_dir(user: it.TestUser) -> str:
    return os.environ.get(WORK_DIR_ENV) or user.home


def user_tmpdir(user: it.TestUser, prefix: str) -> str:
    """A temp dir owned by the user (we remove it as root)."""
    path = tempfile.mkdtemp(prefix=prefix, dir=work_dir(user))
    os.chmod(path, 0o755)
    os.chown(path, user.uid, user.gid)
    return path


# Trees whose removal waits for the end of a deferred_removals() block (None: remove at once).
_deferred: Optional[List[str]] = None


@contextlib.contextmanager
def deferred_removals() -> Iterator[None]:
    """Remove the trees remove_tree() is given only when the block ends.

    The VM's ext4 has no journal, and then inode allocation skips every inode
    freed in the last ~30 s, probing the buffer cache for each (fs/ext4/ialloc.c
    recently_deleted()). Removing one method's ~10k-file storage root right
    before the next method unpacks made that method's unpack 1.5-3x slower
    (bench/README.md). Deferring the removals keeps that cost off every clock.
    """
    global _deferred
    outer, _deferred = _deferred, []
    try:
        yield
    finally:
        paths, _deferred = _deferred, outer
        for path in paths:
            remove_tree(path)


def remove_tree(path: str) -> None:
    """rm -rf as root: files below belong to subordinate ids and may be read-only."""
    if _deferred is not None:
        _deferred.append(path)
        return
    shutil.rmtree(path, ignore_errors=True)
    if os.path.exists(path):
        subprocess.run(["rm", "-rf", "--one-file-system", path], check=False)


def timed(action: Callable[[], object], settle: bool = False) -> float:
    """Seconds one call of action takes (wall clock).

    settle: `sync` first, so the writeback of earlier steps (a cold pull leaves
    ~130 MB dirty) does not land on this step's clock.
    """
    if settle:
        os.sync()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


# The user's timer (bench/user_timer.py): the venv's python, -I -S so that neither the user's
# PYTHONPATH (the tree under test) nor any site set-up reaches it; it needs the stdlib only.
TIMER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "user_timer.py")
TIMER_ARGV = [VENV_PYTHON, "-I", "-S", TIMER_SCRIPT]


class Timing(NamedTuple):
    """One sample of a command: wall seconds, and CPU seconds (user+sys) of it and the children it waited for."""

    wall: float
    cpu: float


class Spawner(Protocol):
    """Runs one command as the user, the way TestUser.run does (env, cwd = home, check), and times it."""

    def timed(self, argv: Sequence[str], env: Optional[Dict[str, str]] = None, check: bool = True,
              timeout: float = 120) -> Timing: ...


class SpawnFromRoot:
    """The method before session 12: root's subprocess.run with a preexec_fn that setuids (TestUser.run).

    A preexec_fn turns off CPython's vfork, so each sample pays a fork of this big
    Python plus the setuid (~3.7 ms on the measured VM), on both sides of every
    ratio. Kept behind --spawn-from-root to compare with the numbers taken before.
    """

    def __init__(self, user: it.TestUser) -> None:
        self.user = user

    def timed(self, argv: Sequence[str], env: Optional[Dict[str, str]] = None, check: bool = True,
              timeout: float = 120) -> Timing:
        cpu_before = user_timer.children_cpu()
        wall = timed(lambda: self.user.run(argv, env=env, check=check, timeout=timeout))
        return Timing(wall, user_timer.children_cpu() - cpu_before)


class UserTimer:
    """Commands spawned and timed by one long-lived process of the user's (bench/user_timer.py).

    It is started once, through the user's usual demote path; from then on each
    sample is a plain vfork+exec by a small process, as from the user's shell.
    The environment is the one TestUser.run would give (user.env(env)), the cwd
    the user's home, and a failure raises with the command's stderr tail.
    """

    def __init__(self, user: it.TestUser) -> None:
        self.user = user
        # stderr inherited: a traceback of the timer itself shows in the benchmark's output
        self.process = user.popen(TIMER_ARGV, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def timed(self, argv: Sequence[str], env: Optional[Dict[str, str]] = None, check: bool = True,
              timeout: float = 120) -> Timing:
        reply = self.ask(user_timer.encode_request(argv, self.user.env(env), self.user.home, timeout))
        why = user_timer.failure(argv, reply, check)
        if why:
            raise user_timer.CommandFailed(why)
        return Timing(reply.seconds, reply.cpu)

    def ask(self, request: bytes) -> user_timer.Reply:
        """Send one request line, read its reply line."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None  # both PIPE
        try:
            stdin.write(request)
            stdin.flush()
            line = stdout.readline()
        except BrokenPipeError:
            line = b""
        if not line:
            raise RuntimeError(f"the user's timer ({' '.join(TIMER_ARGV)}) exited with {self.process.wait()}")
        return user_timer.decode_reply(line)

    def close(self) -> None:
        """Closing its input ends the timer; a timer that hangs (in a command) is killed."""
        if self.process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def add_spawn_option(parser: argparse.ArgumentParser) -> None:
    """--spawn-from-root, for the benchmarks that time short commands one by one (spawner())."""
    parser.add_argument("--spawn-from-root", action="store_true",
                        help="time each command as root's fork+setuid+exec (the method before session 12, "
                             "~3.7 ms more per sample) instead of from the user's own timer process")


def spawn_method(from_root: bool) -> str:
    """How the samples were taken, for the output and the JSON."""
    return "from root (fork+setuid+exec per sample)" if from_root else "by the user's timer (vfork+exec per sample)"


def spawner(stack: contextlib.ExitStack, user: it.TestUser, from_root: bool) -> Spawner:
    """How samples are taken: the user's timer (closed by stack), or from root with --spawn-from-root."""
    if from_root:
        return SpawnFromRoot(user)
    timer = UserTimer(user)
    stack.callback(timer.close)
    return timer


def is_zombie(proc_dir: str) -> bool:
    """/proc/PID/stat's state is Z: exited, waiting for its parent to reap it."""
    with open(os.path.join(proc_dir, "stat")) as f:
        stat = f.read()
    return parse_stat_state(stat) == "Z"


def parse_stat_state(stat: str) -> str:
    """The state field of a /proc/PID/stat line (after the command, which may hold spaces and parens)."""
    return stat[stat.rindex(")") + 2:].split(" ", 1)[0]


class Quiet:
    """Waits, before a sample, until the processes the previous sample left behind are gone.

    podman's conmon runs `podman container cleanup` after `podman run --rm` has
    returned (~0.1 s of CPU), and our conmon runs `crun delete`: on two cores
    that work landed on the clock of whichever method came next in the round
    (the docker row, timed right after podman's, read ~7 ms slower than the
    same runs back to back). Each method is timed from a quiet machine; its
    own leftovers are charged to nobody. The user's processes at the start
    are the long-lived ones (daemons, pause processes); one still there after
    `timeout` joins them, counted in `lingering` (many: something else ran as
    the user meanwhile, and the samples are not from a quiet machine).
    """

    def __init__(self, uid: int, timeout: float = 1.0) -> None:
        self.uid = uid
        self.timeout = timeout
        self.lingering = 0
        self.settled_s = 0.0
        self.known = self.pids()

    def pids(self) -> Set[int]:
        """The user's processes, zombies left out.

        A daemonized conmon (ours and podman's) is reparented to pid 1 when its
        first process exits; this VM's pid 1 (a firecracker init) reaps such
        orphans 1-2 s late. A zombie does no work, and counting it made every
        wait run to its timeout (bench/README.md "Session 12: where the goal stands").
        """
        found = set()
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if entry.stat().st_uid == self.uid and not is_zombie(entry.path):
                        found.add(int(entry.name))
        return found

    def wait(self) -> None:
        start = time.perf_counter()
        while True:
            extra = self.pids() - self.known
            if not extra:
                break
            if time.perf_counter() - start > self.timeout:
                self.known |= extra
                self.lingering += len(extra)
                break
            time.sleep(0.002)
        self.settled_s += time.perf_counter() - start


def median_p90(samples: Sequence[float]) -> Tuple[float, float]:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return statistics.median(ordered), p90


@contextlib.contextmanager
def registry() -> Iterator[it.RegistryProcess]:
    """A docker-registry on 127.0.0.1, removed with its storage afterwards."""
    reg = it.start_registry()
    try:
        yield reg
    finally:
        it.stop_registry(reg)


@contextlib.contextmanager
def engine(user: it.TestUser) -> Iterator[it.Engine]:
    """Our daemon for the user with a fresh storage root and runtime dir."""
    base = tempfile.mkdtemp(prefix="rootless-bench-engine-", dir=work_dir(user))
    eng = it.make_engine(user, base)
    # The runtime dir beside podman's (Podman.run_dir), not under $HOME: on a
    # journal-less ext4 every inode allocated in a block group with many
    # recently freed inodes probes them (bench/README "The create request"),
    # and $HOME's groups churn with every storage root the benches remove.
    run_dir = tempfile.mkdtemp(prefix="rbr-", dir="/tmp")
    os.chown(run_dir, user.uid, user.gid)
    eng = dataclasses.replace(eng, run_dir=run_dir)
    try:
        eng.cli("info")  # starts rootlessd on demand, outside any timing
        yield eng
    finally:
        eng.stop()  # `system stop --all`: daemon and pause process
        remove_tree(base)
        remove_tree(run_dir)


class SetUp(NamedTuple):
    """What every benchmark starts with (set_up())."""

    user: it.TestUser
    images: imagebuild.TestImages
    engine: it.Engine


def set_up(stack: contextlib.ExitStack, args: argparse.Namespace) -> SetUp:
    """The --user with its bytecode cache, a registry with the test images, our engine with busybox pulled.

    Everything is torn down by stack; args comes from argument_parser().
    """
    user = bench_user(args.user, args.source)
    stack.enter_context(bytecode_cache(user, not args.no_bytecode_cache))
    reg = stack.enter_context(registry())
    images = imagebuild.build_and_push(reg.client)
    ours = stack.enter_context(engine(user))
    ours.docker("pull", "-q", images.busybox)
    return SetUp(user, images, ours)


@dataclass
class Podman:
    """Rootless podman for the user with private config, storage and runtime dirs."""

    user: it.TestUser
    base: str
    run_dir: str

    @property
    def env(self) -> Dict[str, str]:
        return {"XDG_RUNTIME_DIR": self.run_dir,
                "XDG_CONFIG_HOME": os.path.join(self.base, "config"),
                "XDG_DATA_HOME": os.path.join(self.base, "data"),
                "CONTAINERS_CONF": os.path.join(self.base, "containers.conf")}

    def argv(self, *args: str) -> List[str]:
        return ["podman", *args]

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> "subprocess.CompletedProcess[str]":
        return self.user.run(self.argv(*args), env=self.env, check=check, timeout=timeout)

    def graph_driver(self) -> str:
        """The storage driver podman really uses (its storage.conf can be ignored with a warning)."""
        return self.run("info", "--format", "{{.Store.GraphDriverName}}").stdout.strip()

    def mask_cgroups(self) -> None:
        """Mount a tmpfs over /sys/fs/cgroup in podman's pause-process namespace.

        `podman unshare` joins the namespace held by podman's pause process,
        so the mount stays for every later podman command of this user/runtime dir.
        """
        self.run("unshare", "mount", "-t", "tmpfs", "tmpfs", "/sys/fs/cgroup")

    def pause_pid(self) -> int:
        with contextlib.suppress(OSError, ValueError):
            with open(os.path.join(self.run_dir, "libpod", "tmp", "pause.pid")) as f:
                return int(f.read().strip())
        return 0

    def close(self) -> None:
        pid = self.pause_pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def podman(user: it.TestUser, storage_driver: Optional[str] = PODMAN_STORAGE_DRIVER) -> Iterator[Podman]:
    """A private podman set-up, its namespace warmed up and cgroups masked.

    storage_driver: written to the private storage.conf before podman first runs
    (its store refuses another driver later). Native kernel overlay by default: the
    peer issue 13 names. None keeps podman's own choice, which is vfs on the measured
    VM: a full copy of the image for every container (and of every parent layer at a
    pull), ~55 ms more per `podman run --rm busybox true` here, ratios that flatter us.
    """
    base = user_tmpdir(user, "rootless-bench-podman-")
    # A short runtime dir: with one under $HOME, `podman run` hung once slirp4netns
    # had exited (conmon's socket paths have a ~108-byte limit).
    run_dir = tempfile.mkdtemp(prefix="rbp-", dir="/tmp")
    os.chown(run_dir, user.uid, user.gid)
    pm = Podman(user, base, run_dir)
    for sub in ("config", "data"):
        os.makedirs(os.path.join(base, sub), mode=0o700)
        os.chown(os.path.join(base, sub), user.uid, user.gid)
    with open(pm.env["CONTAINERS_CONF"], "w") as f:
        f.write(PODMAN_CONF)
    os.chmod(pm.env["CONTAINERS_CONF"], 0o644)
    if storage_driver:
        write_storage_conf(user, os.path.join(base, "config"), storage_driver)
    try:
        pm.mask_cgroups()  # also starts the pause process outside any timing
        if storage_driver and pm.graph_driver() != storage_driver:
            raise RuntimeError(f"podman ignored storage driver {storage_driver!r}: it uses {pm.graph_driver()!r}")
        yield pm
    finally:
        pm.close()
        remove_tree(base)
        remove_tree(run_dir)


def write_storage_conf(user: it.TestUser, config_home: str, driver: str) -> None:
    """XDG_CONFIG_HOME/containers/storage.conf naming the graph driver (rootless podman reads it)."""
    directory = os.path.join(config_home, "containers")
    os.makedirs(directory, mode=0o700)
    os.chown(directory, user.uid, user.gid)
    path = os.path.join(directory, "storage.conf")
    with open(path, "w") as f:
        f.write(f'[storage]\ndriver = "{driver}"\n')
    os.chmod(path, 0o644)


def ratio(ours: Optional[float], other: Optional[float]) -> str:
    if not ours or not other:
        return "n/a"
    return f"{ours / other:.2f}x"


def print_table(title: str, rows: Sequence[Tuple[str, Optional[Sequence[float]], str]]) -> Dict[str, float]:
    """Print name, median, p90 (ms) and a note per row; return the medians by name."""
    print(f"\n{title}")
    print(f"{'what':<34} {'median ms':>10} {'p90 ms':>10}  note")
    medians: Dict[str, float] = {}
    for name, samples, note in rows:
        if not samples:
            print(f"{name:<34} {'-':>10} {'-':>10}  {note}")
            continue
        median, p90 = median_p90(samples)
        medians[name] = median
        print(f"{name:<34} {median * 1000:>10.1f} {p90 * 1000:>10.1f}  {note}")
    return medians


def argument_parser(description: Optional[str], runs: int) -> argparse.ArgumentParser:
    """The options every benchmark takes: --user, --source, --runs, --json."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--user", default=DEFAULT_USER, help="unprivileged user to run as")
    parser.add_argument("--source", default=REPO, help="tree whose rootless package runs (A/B runs)")
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--json", help="also write raw samples here")
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="compile the source tree's modules on every call (the pre-2026-11-28 numbers)")
    return parser


def dump_json(path: Optional[str], data: object) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)


__all__ = ["imagebuild", "it"]
