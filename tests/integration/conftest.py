"""Integration fixtures: an unprivileged user, its daemon, a local registry, test images.

Tests run as root (as CI does) but drive the engine as `rootless-test`, a
plain user with a subuid/subgid range, exactly as a user on a laptop would.
The package is copied to a world-readable place so that user can import it
from whatever directory the checkout lives in.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from tests import imagebuild

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST_USER = os.environ.get("ROOTLESS_TEST_USER", "rootless-test")
VENV_PYTHON = os.environ.get("ROOTLESS_TEST_PYTHON", "/opt/rootless/venv/bin/python")
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
BASE_PATH = "/opt/rootless/venv/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TestUser:
    """An unprivileged account with a subuid range; runs commands as itself."""

    __test__ = False

    name: str
    uid: int
    gid: int
    home: str
    base_env: Dict[str, str] = field(default_factory=dict)

    def _demote(self) -> None:
        os.setgroups([])
        os.setgid(self.gid)
        os.setuid(self.uid)

    def env(self, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        env = {"HOME": self.home, "USER": self.name, "LOGNAME": self.name, "PATH": BASE_PATH,
               "LANG": "C.UTF-8", **self.base_env}
        env.update(extra or {})
        return env

    def run(self, argv: Sequence[str], *, input: Optional[str] = None, env: Optional[Dict[str, str]] = None,
            check: bool = True, timeout: float = 120, cwd: Optional[str] = None) -> "subprocess.CompletedProcess[str]":
        result = subprocess.run(
            list(argv), input=input, capture_output=True, text=True, env=self.env(env),
            preexec_fn=self._demote, timeout=timeout, cwd=cwd or self.home,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def popen(self, argv: Sequence[str], env: Optional[Dict[str, str]] = None, **kwargs: object) -> "subprocess.Popen[bytes]":
        return subprocess.Popen(list(argv), env=self.env(env), preexec_fn=self._demote, cwd=self.home, **kwargs)  # type: ignore[call-overload]


def _ensure_host_setup() -> None:
    """The same set-up a user runs: packages, devices, the test user and its range."""
    if os.geteuid() != 0:
        pytest.exit("integration tests must start as root (they create and use an unprivileged user)", 2)
    try:
        pwd.getpwnam(TEST_USER)
        has_user = True
    except KeyError:
        has_user = False
    with open("/etc/subuid") as f:
        has_range = any(line.startswith(f"{TEST_USER}:") for line in f)
    devices_ok = all(os.stat(d).st_mode & 0o006 == 0o006 for d in ("/dev/net/tun", "/dev/fuse") if os.path.exists(d))
    if not (has_user and has_range and devices_ok and os.path.exists(VENV_PYTHON)):
        subprocess.run(["bash", os.path.join(REPO, "contrib", "setup-host.sh"), "--user", TEST_USER, "--tests"],
                       check=True)


def _publish_source(tmp_root: str) -> str:
    """Copy the package to a dir the test user can read (the checkout may be under /root)."""
    src = os.path.join(tmp_root, "src")
    shutil.copytree(os.path.join(REPO, "rootless"), os.path.join(src, "rootless"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    os.chmod(tmp_root, 0o755)
    for dirpath, dirnames, filenames in os.walk(src):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
    return src


@pytest.fixture(scope="session")
def user() -> Iterator[TestUser]:
    _ensure_host_setup()
    entry = pwd.getpwnam(TEST_USER)
    tmp_root = tempfile.mkdtemp(prefix="rootless-it-")
    src = _publish_source(tmp_root)
    test_user = TestUser(TEST_USER, entry.pw_uid, entry.pw_gid, entry.pw_dir, {"PYTHONPATH": src})
    yield test_user
    shutil.rmtree(tmp_root, ignore_errors=True)


@dataclass
class Engine:
    """A rootlessd for the test user with a private storage root and runtime dir."""

    user: TestUser
    root: str
    run_dir: str
    config_home: str

    @property
    def socket(self) -> str:
        return os.path.join(self.run_dir, "rootless.sock")

    @property
    def env(self) -> Dict[str, str]:
        # ROOTLESS_MONITOR=conmon|python runs a suite with that monitor (runtime/supervisor.py)
        monitor = {"ROOTLESS_MONITOR": os.environ["ROOTLESS_MONITOR"]} if os.environ.get("ROOTLESS_MONITOR") else {}
        return {"ROOTLESS_ROOT": self.root, "ROOTLESS_RUNTIME_DIR": self.run_dir,
                "XDG_CONFIG_HOME": self.config_home, "DOCKER_CONFIG": os.path.join(self.config_home, "docker"),
                "DOCKER_HOST": f"unix://{self.socket}", **monitor}

    def cli(self, *args: str, input: Optional[str] = None, check: bool = True, timeout: float = 120,
            env: Optional[Dict[str, str]] = None) -> "subprocess.CompletedProcess[str]":
        return self.user.run([VENV_PYTHON, "-m", "rootless.cli", *args], input=input, check=check,
                             timeout=timeout, env={**self.env, **(env or {})})

    def docker(self, *args: str, input: Optional[str] = None, check: bool = True, timeout: float = 120,
               env: Optional[Dict[str, str]] = None) -> "subprocess.CompletedProcess[str]":
        return self.user.run([DOCKER, *args], input=input, check=check, timeout=timeout,
                             env={**self.env, **(env or {})})

    def unshare(self, *argv: str, check: bool = True, timeout: float = 120, input: Optional[str] = None
                ) -> "subprocess.CompletedProcess[str]":
        return self.cli("unshare", *argv, check=check, timeout=timeout, input=input)

    def client(self, timeout: int = 120):  # type: ignore[no-untyped-def]
        import docker
        return docker.DockerClient(base_url=f"unix://{self.socket}", timeout=timeout)

    def log(self) -> str:
        with contextlib.suppress(OSError):
            with open(os.path.join(self.run_dir, "rootlessd.log")) as f:
                return f.read()
        return ""

    def stop(self) -> None:
        self.cli("system", "stop", "--all", check=False, timeout=60)

    def daemon_pid(self) -> int:
        """The running daemon's pid, from the pid file it writes at start."""
        with open(os.path.join(self.run_dir, "rootlessd.pid")) as f:
            return int(json.load(f)["pid"])

    def kill_daemon(self) -> int:
        """SIGKILL the daemon (a crash) and wait until it is gone; returns its pid."""
        pid = self.daemon_pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while process_alive(pid):
            assert time.monotonic() < deadline, "daemon survived SIGKILL"
            time.sleep(0.02)
        return pid


def process_alive(pid: int) -> bool:
    """Still running: a zombie waiting for a slow pid 1 to reap it counts as gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def kill_engine_processes(run_dir: str) -> None:
    """Every process in the user namespace of this engine's pause process.

    Only this engine's: other engines of the same user (tests running in
    parallel) have namespaces of their own.
    """
    with contextlib.suppress(OSError, ValueError, KeyError):
        with open(os.path.join(run_dir, "pause.pid")) as f:
            pause = int(json.load(f)["pid"])
        target = os.stat(f"/proc/{pause}/ns/user").st_ino
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                with contextlib.suppress(OSError):
                    if target in user_namespace_chain(int(pid)):
                        os.kill(int(pid), signal.SIGKILL)


NS_GET_PARENT = 0xB702  # _IO(0xb7, 0x2), linux/nsfs.h


def user_namespace_chain(pid: int) -> List[int]:
    """Inode numbers of pid's user namespace and of every ancestor of it.

    A --userns keep-id container runs in a user namespace nested in the
    engine's, so comparing the process's own namespace misses it.
    """
    chain: List[int] = []
    fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    try:
        while len(chain) < 33:  # the kernel nests at most 32 user namespaces
            chain.append(os.fstat(fd).st_ino)
            try:
                parent = fcntl.ioctl(fd, NS_GET_PARENT)
            except OSError:  # EPERM: the initial namespace has no parent
                break
            os.close(fd)
            fd = parent
    finally:
        os.close(fd)
    return chain


def make_engine(test_user: TestUser, base: str) -> Engine:
    dirs = {name: os.path.join(base, name) for name in ("root", "run", "config")}
    for path in dirs.values():
        os.makedirs(path, mode=0o700)
        os.chown(path, test_user.uid, test_user.gid)
    os.chmod(base, 0o755)
    return Engine(test_user, dirs["root"], dirs["run"], dirs["config"])


@pytest.fixture(scope="session")
def engine(user: TestUser) -> Iterator[Engine]:
    base = tempfile.mkdtemp(prefix="rootless-engine-", dir="/tmp")
    eng = make_engine(user, base)
    eng.cli("info")  # starts the daemon on demand
    yield eng
    eng.stop()
    time.sleep(0.2)
    kill_engine_processes(eng.run_dir)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def fresh_engine(user: TestUser) -> Iterator[Engine]:
    """A second engine with its own storage root and runtime dir (so its own
    pause process and namespaces), for tests that stop or break it."""
    base = tempfile.mkdtemp(prefix="rootless-fresh-", dir="/tmp")
    eng = make_engine(user, base)
    yield eng
    eng.stop()
    kill_engine_processes(eng.run_dir)
    shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def host_link(link: str, address: str) -> Iterator[None]:
    """A veth pair of the host (link, link + "p"), up, with address/32 on link: a server there
    is "outside" for containers (not loopback, not the host's main address); removed after."""
    subprocess.run(["ip", "link", "add", link, "type", "veth", "peer", "name", link + "p"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", link], check=True)
        for end in (link, link + "p"):
            subprocess.run(["ip", "link", "set", end, "up"], check=True)
        yield
    finally:
        subprocess.run(["ip", "link", "del", link], check=False)


@contextlib.contextmanager
def user_server(user: TestUser, code: str, *args: str) -> Iterator[int]:
    """`python3 -c code args...` as the user, a server whose first line is its port; killed after."""
    server = user.popen(["python3", "-c", code, *args], stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None
        yield int(server.stdout.readline().decode())
    finally:
        server.kill()
        server.wait()


@pytest.fixture()
def cleanup(engine: Engine) -> Iterator[List[Tuple[str, str]]]:
    """("container" | "network", name) pairs the test appends; removed after it, the last made first."""
    made: List[Tuple[str, str]] = []
    yield made
    for kind, name in reversed(made):
        if kind == "container":
            engine.docker("rm", "-f", name, check=False)
        else:
            engine.docker("network", "rm", name, check=False)


@pytest.fixture()
def net(engine: Engine) -> Iterator[Tuple[str, List[str]]]:
    """A user network, and a list the test appends its container names to (removed after, then the network)."""
    name = f"un{uuid.uuid4().hex[:6]}"
    engine.docker("network", "create", name)
    made: List[str] = []
    yield name, made
    for container in made:
        engine.docker("rm", "-f", container, check=False)
    engine.docker("network", "rm", name, check=False)


@dataclass
class RegistryProcess:
    host: str
    root: str
    proc: "subprocess.Popen[bytes]"
    auth: Optional[tuple] = None

    @property
    def client(self) -> imagebuild.Registry:
        return imagebuild.Registry(self.host, self.auth)


def start_registry(extra_config: str = "", auth: Optional[tuple] = None) -> RegistryProcess:
    root = tempfile.mkdtemp(prefix="rootless-registry-")
    port = _free_port()
    config = os.path.join(root, "config.yml")
    with open(config, "w") as f:
        f.write(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {root}/data\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{port}\n{extra_config}"
        )
    log = open(os.path.join(root, "registry.log"), "wb")
    proc = subprocess.Popen(["docker-registry", "serve", config], stdout=log, stderr=log)
    host = f"127.0.0.1:{port}"
    imagebuild.wait_for_registry(host)
    return RegistryProcess(host, root, proc, auth)


def stop_registry(registry: RegistryProcess) -> None:
    registry.proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        registry.proc.wait(10)
    shutil.rmtree(registry.root, ignore_errors=True)


@pytest.fixture(scope="session")
def registry() -> Iterator[RegistryProcess]:
    reg = start_registry()
    yield reg
    stop_registry(reg)


@pytest.fixture(scope="session")
def auth_registry() -> Iterator[RegistryProcess]:
    """A registry that wants basic auth (htpasswd, bcrypt) as user tester / secret."""
    htpasswd = subprocess.run(["htpasswd", "-Bbn", "tester", "secret"], check=True, capture_output=True,
                              text=True).stdout
    directory = tempfile.mkdtemp(prefix="rootless-htpasswd-")
    path = os.path.join(directory, "htpasswd")
    with open(path, "w") as f:
        f.write(htpasswd)
    reg = start_registry(f"auth:\n  htpasswd:\n    realm: rootless-test\n    path: {path}\n",
                         auth=("tester", "secret"))
    yield reg
    stop_registry(reg)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def images(registry: RegistryProcess) -> imagebuild.TestImages:
    """Test images, built once per run and pushed to the session registry."""
    return imagebuild.build_and_push(registry.client)
