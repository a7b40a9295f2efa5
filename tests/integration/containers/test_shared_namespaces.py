"""Shared namespaces and host devices (issues 10 and 11), checked from inside the containers.

`--network container:X` (a sidecar reaching X's server on 127.0.0.1, X's
/etc files, docker's conflicting options, losing the network when X stops),
`--network none|host`, `--pid host|container:X`, `--ipc
shareable|container:X|host|none`, `--device` binds of nodes the user can
open. Before, `--pid`/`--ipc`/`--device` were refused and `container:X` was
"not supported yet".
"""
from __future__ import annotations

import os
import socket
import subprocess
import threading
from typing import Iterator

import pytest

from tests.integration.conftest import VENV_PYTHON, Engine

SERVE = "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"


@pytest.fixture()
def web(engine: Engine, busybox: str) -> Iterator[str]:
    """A container serving on its own loopback only: 127.0.0.1:8080."""
    engine.docker("run", "-d", "--name", "ns-web", "--hostname", "webhost", busybox, "sh", "-c", SERVE)
    yield engine.docker("inspect", "-f", "{{.Id}}", "ns-web").stdout.strip()
    engine.docker("rm", "-f", "ns-web", check=False)


def _interfaces(proc_net_dev: str) -> set:
    return {line.split(":")[0].strip() for line in proc_net_dev.splitlines()[2:] if ":" in line}


def _fetch(engine: Engine, busybox: str, *flags: str) -> "subprocess.CompletedProcess[str]":
    script = "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8080/ && exit 0; sleep 0.3; done; exit 1"
    return engine.docker("run", "--rm", *flags, busybox, "sh", "-c", script, check=False)


def test_a_sidecar_reaches_the_server_on_loopback_and_shares_its_etc_files(engine: Engine, busybox: str,
                                                                           web: str) -> None:
    fetched = _fetch(engine, busybox, "--network", "container:ns-web")
    assert fetched.returncode == 0 and fetched.stdout.strip() == "hello-from-web", fetched.stderr
    assert _fetch(engine, busybox).returncode != 0  # its own network: nothing on its loopback
    engine.docker("run", "-d", "--name", "ns-side", "--network", "container:ns-web", busybox, "sleep", "300")
    try:
        assert engine.docker("inspect", "-f", "{{.HostConfig.NetworkMode}}", "ns-side").stdout.strip() == \
            f"container:{web}"
        for path in ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf"):
            assert engine.docker("exec", "ns-side", "cat", path).stdout == \
                engine.docker("exec", "ns-web", "cat", path).stdout, path
        assert engine.docker("exec", "ns-side", "hostname").stdout.strip() == "webhost"
        own = engine.docker("exec", "ns-web", "readlink", "/proc/self/ns/net").stdout
        assert engine.docker("exec", "ns-side", "readlink", "/proc/self/ns/net").stdout == own
        assert "eth0" in _interfaces(engine.docker("exec", "ns-side", "cat", "/proc/net/dev").stdout)
        engine.docker("stop", "-t", "1", "ns-web")
        # docker's sidecar keeps the namespace but loses X's interfaces: X's veth on the bridge went with X
        left = _interfaces(engine.docker("exec", "ns-side", "cat", "/proc/net/dev").stdout)
        assert left == {"lo"}, left
    finally:
        engine.docker("rm", "-f", "ns-side", check=False)


def test_joining_a_stopped_container_or_with_conflicting_options_fails_as_docker(engine: Engine,
                                                                                busybox: str) -> None:
    engine.docker("create", "--name", "ns-stopped", busybox, "true")
    try:
        result = engine.docker("run", "--rm", "--network", "container:ns-stopped", busybox, "true", check=False)
        assert result.returncode != 0 and "cannot join network of a non running container: ns-stopped" \
            in result.stderr, result.stderr
        for flags, message in ((["-h", "x"], "conflicting options: hostname and the network mode"),
                               (["-p", "8080:80"], "conflicting options: port publishing and the container type"),
                               (["--dns", "1.1.1.1"], "conflicting options: dns and the network mode"),
                               (["--add-host", "a:1.2.3.4"], "conflicting options: custom host-to-IP mapping")):
            result = engine.docker("run", "--rm", "--network", "container:ns-stopped", *flags, busybox, "true",
                                   check=False)
            assert result.returncode == 125 and message in result.stderr, (flags, result.stderr)
        missing = engine.docker("run", "--rm", "--network", "container:ns-nope", busybox, "true", check=False)
        assert "No such container: ns-nope" in missing.stderr
    finally:
        engine.docker("rm", "-f", "ns-stopped", check=False)


def test_docker_py_network_mode_container(engine: Engine, busybox: str, web: str) -> None:
    client = engine.client()
    output = client.containers.run(busybox, ["sh", "-c", "sleep 0.5; wget -qO- http://127.0.0.1:8080/"],
                                   network_mode="container:ns-web", remove=True)
    assert output.strip() == b"hello-from-web"
    side = client.containers.create(busybox, "true", network_mode=f"container:{web[:12]}")
    try:
        assert side.attrs["HostConfig"]["NetworkMode"] == f"container:{web}"
        assert side.attrs["NetworkSettings"]["Networks"] == {}
    finally:
        side.remove()


def test_network_none_has_only_loopback_and_host_has_the_hosts(engine: Engine, busybox: str) -> None:
    none = engine.docker("run", "--rm", "--network", "none", busybox, "cat", "/proc/net/dev").stdout
    assert _interfaces(none) == {"lo"}
    with open("/proc/net/dev") as f:
        host_interfaces = _interfaces(f.read())
    host = engine.docker("run", "--rm", "--network", "host", busybox, "sh", "-c",
                         "cat /proc/net/dev; echo; hostname").stdout
    assert _interfaces(host) == host_interfaces  # the daemon's namespace, the host's for rootless
    assert host.strip().splitlines()[-1] == socket.gethostname()  # docker names it as the host
    received = []

    def serve_once(server: socket.socket) -> None:
        connection, _ = server.accept()
        with connection:  # closing it ends the container's nc
            received.append(connection.recv(16))

    with socket.socket() as server:  # the host's loopback is the container's
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(60)
        thread = threading.Thread(target=serve_once, args=(server,))
        thread.start()
        engine.docker("run", "--rm", "--network", "host", busybox, "sh", "-c",
                      f"echo hi | nc 127.0.0.1 {server.getsockname()[1]}")
        thread.join()
    assert received == [b"hi\n"]


def test_pid_container_sees_its_processes_and_pid_host_the_hosts(engine: Engine, busybox: str) -> None:
    engine.docker("run", "-d", "--name", "ns-pid", busybox, "sleep", "4242")
    sleeper = engine.user.popen(["sleep", "4343"])
    try:
        listing = engine.docker("run", "--rm", "--pid", "container:ns-pid", busybox, "ps", "-o", "pid,args").stdout
        assert any(line.split()[:3] == ["1", "sleep", "4242"] for line in listing.splitlines()), listing
        host = engine.docker("run", "--rm", "--pid", "host", busybox, "ps", "-o", "pid,args").stdout
        assert any(line.split()[:3] == [str(sleeper.pid), "sleep", "4343"] for line in host.splitlines()), host
        assert "sleep 4343" not in engine.docker("run", "--rm", busybox, "ps", "-o", "args").stdout
        ours = engine.cli("run", "--rm", "--pid", "host", busybox, "cat", f"/proc/{sleeper.pid}/cmdline").stdout
        assert ours == "sleep\x004343\x00"
    finally:
        sleeper.kill()
        sleeper.wait()
        engine.docker("rm", "-f", "ns-pid", check=False)


SHMGET = "import ctypes; assert ctypes.CDLL(None).shmget(0x5eed, 4096, 0o1666) >= 0"


def test_ipc_container_shares_sysv_and_posix_shm_of_a_shareable_container(engine: Engine, busybox: str) -> None:
    engine.docker("run", "-d", "--name", "ns-ipc", "--ipc", "shareable", busybox, "sleep", "300")
    engine.docker("run", "-d", "--name", "ns-private", busybox, "sleep", "300")
    try:
        engine.docker("exec", "ns-ipc", "sh", "-c", "echo shared-bytes > /dev/shm/seg")
        pid = engine.docker("inspect", "-f", "{{.State.Pid}}", "ns-ipc").stdout.strip()
        engine.unshare("nsenter", f"--ipc=/proc/{pid}/ns/ipc", VENV_PYTHON, "-c", SHMGET)  # a SysV segment in X
        joined = engine.docker("run", "--rm", "--ipc", "container:ns-ipc", busybox, "sh", "-c",
                               "cat /dev/shm/seg /proc/sysvipc/shm").stdout
        assert joined.startswith("shared-bytes\n") and " 24301 " in joined, joined  # 0x5eed
        private = engine.docker("run", "--rm", busybox, "sh", "-c", "ls /dev/shm; cat /proc/sysvipc/shm").stdout
        assert "seg" not in private and " 24301 " not in private
        refused = engine.docker("run", "--rm", "--ipc", "container:ns-private", busybox, "true", check=False)
        assert refused.returncode != 0 and "non-shareable IPC" in refused.stderr, refused.stderr
        assert engine.docker("inspect", "-f", "{{.HostConfig.IpcMode}}", "ns-private").stdout.strip() == "private"
        engine.docker("restart", "-t", "1", "ns-ipc")  # a fresh /dev/shm at each start, as dockerd's
        again = engine.docker("run", "--rm", "--ipc", "container:ns-ipc", busybox, "ls", "/dev/shm").stdout
        assert again.strip() == ""
    finally:
        ipc_id = engine.docker("inspect", "-f", "{{.Id}}", "ns-ipc", check=False).stdout.strip()
        engine.docker("rm", "-f", "ns-ipc", "ns-private", check=False)
    mounts = engine.unshare("cat", "/proc/self/mountinfo").stdout
    assert ipc_id and ipc_id not in mounts  # rm took the engine's shm tmpfs of the container


def test_ipc_host_sees_the_hosts_shm_and_none_has_no_shm(engine: Engine, busybox: str) -> None:
    name = f"rootless-ns-test-{os.getpid()}"
    engine.user.run(["sh", "-c", f"echo from-host > /dev/shm/{name}"])
    try:
        seen = engine.docker("run", "--rm", "--ipc", "host", busybox, "cat", f"/dev/shm/{name}").stdout
        assert seen == "from-host\n"
    finally:
        os.unlink(f"/dev/shm/{name}")
    assert engine.docker("run", "--rm", "--ipc", "none", busybox, "sh", "-c",
                         "test -e /dev/shm && echo has-shm || echo no-shm").stdout.strip() == "no-shm"


def test_devices_the_user_can_open_are_bound_and_others_refused(engine: Engine, busybox: str) -> None:
    assert os.stat("/dev/fuse").st_mode & 0o006 == 0o006, "the host set-up makes /dev/fuse usable by users"
    opened = engine.docker("run", "--rm", "--device", "/dev/fuse", busybox, "sh", "-c",
                           "test -c /dev/fuse && exec 3<>/dev/fuse && echo opened").stdout
    assert opened.strip() == "opened"
    renamed = engine.cli("run", "--rm", "--device", "/dev/null:/dev/mynull:rwm", busybox, "sh", "-c",
                         "test -c /dev/mynull && echo x > /dev/mynull && echo written").stdout
    assert renamed.strip() == "written"
    for flags, message in (
            (["--device", "/dev/kvm"], 'adding custom device "/dev/kvm": permission denied'),
            (["--device", "/dev/nope"], 'adding custom device "/dev/nope": no such file or directory'),
            (["--device", "/dev/null:r"], "can't take write access away rootless")):
        if not os.path.exists("/dev/kvm") and "/dev/kvm" in flags:
            continue
        result = engine.docker("run", "--rm", "--name", "ns-dev", *flags, busybox, "true", check=False)
        # the docker CLI picks 126/127 from "permission denied" / "no such file or directory", as for dockerd's
        assert result.returncode in (125, 126, 127) and message in result.stderr, (flags, result.stderr)
        assert "ns-dev" not in engine.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    # read access where the user can only read: the kernel enforces what was asked
    kmsg = engine.docker("run", "--rm", "--device", "/dev/kmsg:r", busybox, "sh", "-c",
                         "test -c /dev/kmsg && echo bound").stdout
    assert kmsg.strip() == "bound"


def test_a_sidecar_of_a_container_on_a_user_network_shares_its_address(engine: Engine, busybox: str) -> None:
    engine.docker("network", "create", "ns-net")
    engine.docker("run", "-d", "--name", "ns-netweb", "--network", "ns-net", busybox, "sh", "-c", SERVE)
    try:
        fetched = _fetch(engine, busybox, "--network", "container:ns-netweb")
        assert fetched.stdout.strip() == "hello-from-web", fetched.stderr
        address = engine.docker("inspect", "-f", "{{(index .NetworkSettings.Networks \"ns-net\").IPAddress}}",
                                "ns-netweb").stdout.strip()
        seen = engine.docker("run", "--rm", "--network", "container:ns-netweb", busybox, "ip", "-4", "addr").stdout
        assert f"inet {address}/" in seen, seen
    finally:
        engine.docker("rm", "-f", "ns-netweb", check=False)
        engine.docker("network", "rm", "ns-net", check=False)
