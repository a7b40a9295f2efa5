"""Runtime spec options of issue 4, checked from inside the container, through our CLI and docker's.

Each option is read back where the kernel shows it (/proc/self/status,
ulimit, /sys/class/net, /etc/hosts), not from inspect.
"""
from __future__ import annotations

import os
from typing import Callable, Dict

import pytest

from tests.integration.conftest import Engine

DEFAULT_CAPS = 0xA80425FB  # docker's default set (moby oci/caps/defaults.go)
CAP_CHOWN, CAP_NET_ADMIN, CAP_SYS_ADMIN = 0, 12, 21


@pytest.fixture(params=["rootless", "docker"])
def run(request, engine: Engine, busybox: str) -> Callable[..., str]:  # type: ignore[no-untyped-def]
    """`run --rm [flags] busybox sh -c SCRIPT` through one CLI; its stdout."""
    tool = engine.cli if request.param == "rootless" else engine.docker

    def run_script(*flags: str, script: str, check: bool = True) -> str:
        return tool("run", "--rm", *flags, busybox, "sh", "-c", script, check=check).stdout
    return run_script


def _status(text: str) -> Dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


STATUS = "cat /proc/self/status"


def test_capabilities_default_add_and_drop(run: Callable[..., str]) -> None:
    assert int(_status(run(script=STATUS))["CapEff"], 16) == DEFAULT_CAPS
    added = int(_status(run("--cap-add", "NET_ADMIN", "--cap-add", "CAP_SYS_ADMIN", script=STATUS))["CapEff"], 16)
    assert added == DEFAULT_CAPS | 1 << CAP_NET_ADMIN | 1 << CAP_SYS_ADMIN
    dropped = int(_status(run("--cap-drop", "chown", script=STATUS))["CapEff"], 16)
    assert dropped == DEFAULT_CAPS & ~(1 << CAP_CHOWN)
    only = _status(run("--cap-drop", "ALL", "--cap-add", "NET_ADMIN", script=STATUS))
    assert int(only["CapEff"], 16) == 1 << CAP_NET_ADMIN and int(only["CapBnd"], 16) == 1 << CAP_NET_ADMIN


def test_privileged_gets_every_capability_and_no_seccomp(run: Callable[..., str]) -> None:
    with open("/proc/sys/kernel/cap_last_cap") as f:
        every = (1 << (int(f.read()) + 1)) - 1
    status = _status(run("--privileged", script=STATUS))
    assert int(status["CapEff"], 16) == every
    assert status["Seccomp"] == "0"


def test_seccomp_default_and_unconfined_and_no_new_privileges(run: Callable[..., str]) -> None:
    default = _status(run(script=STATUS))
    assert default["Seccomp"] == "2"
    assert default["NoNewPrivs"] == "1"  # issue 4 makes no-new-privileges a default (docker's is off)
    unconfined = _status(run("--security-opt", "seccomp=unconfined", script=STATUS))
    assert unconfined["Seccomp"] == "0"
    assert _status(run("--security-opt", "no-new-privileges", script=STATUS))["NoNewPrivs"] == "1"


def test_masked_and_read_only_kernel_paths(run: Callable[..., str]) -> None:
    # (/proc/kcore and /proc/sysrq-trigger do not exist on this kernel; crun skips them)
    out = run(script="wc -c < /proc/keys; wc -c < /proc/timer_list; ls /proc/acpi | wc -l; "
                     "echo x 2>&1 > /proc/sys/kernel/domainname; touch /sys/x 2>&1; "
                     "grep -E ' /(sys|proc/sys|proc/bus) ' /proc/mounts | cut -d' ' -f4 | cut -c1-3",
              check=False).splitlines()
    assert [line.strip() for line in out[:3]] == ["0", "0", "0"]  # /dev/null or an empty tmpfs over them
    assert "Read-only file system" in out[3] and "Read-only file system" in out[4]
    assert out[5:] == ["ro,"] * 3


def test_init_is_pid_1_and_reaps_orphans(run: Callable[..., str]) -> None:
    script = ('tr "\\0" " " < /proc/1/cmdline; echo; '
              'for i in 1 2 3; do sh -c "sleep 0.1 &"; done; sleep 1; '
              'grep -l "^State:.*Z" /proc/[0-9]*/status | wc -l')
    lines = run("--init", script=script).splitlines()
    assert lines[0].split()[:2] == ["/dev/init", "--"]  # docker's place for it
    assert lines[1].strip() == "0"  # no zombies left
    version = run("--init", script="/dev/init --version")
    assert "catatonit" in version or "tini" in version
    assert run(script="cat /proc/1/cmdline | tr '\\0' ' '").startswith("sh -c")


def test_ulimits(run: Callable[..., str]) -> None:
    out = run("--ulimit", "nofile=512:1024", "--ulimit", "nproc=300", script="ulimit -n; ulimit -Hn; ulimit -u")
    assert out.split() == ["512", "1024", "300"]


def test_read_only_rootfs_with_tmpfs(run: Callable[..., str]) -> None:
    out = run("--read-only", "--tmpfs", "/scratch:size=1m", script=(
        "touch /nope 2>&1; touch /scratch/ok && echo tmpfs-ok; grep ' /scratch ' /proc/mounts"), check=False)
    assert "Read-only file system" in out and "tmpfs-ok" in out
    assert "tmpfs" in out.splitlines()[-1] and "size=1024k" in out.splitlines()[-1]


def test_user_name_resolved_through_the_images_passwd_and_group(run: Callable[..., str]) -> None:
    # supplementary groups are the ones listing the user, as runc's GetExecUser finds them
    assert run("-u", "app", script="id").strip() == "uid=1000(app) gid=1000(app) groups=100(users)"
    assert run("-u", "app:users", script="id -u; id -g").split() == ["1000", "100"]
    assert run("-u", "1000", script="id -un; echo $HOME").split() == ["app", "/home/app"]
    assert run("-u", "4242:4343", script="id -u; id -g").split() == ["4242", "4343"]


def test_unknown_user_is_refused(engine: Engine, busybox: str) -> None:
    for tool in (engine.cli, engine.docker):
        refused = tool("run", "--rm", "-u", "nosuchuser", busybox, "true", check=False)
        assert refused.returncode in (125, 126), refused
        assert "nosuchuser" in refused.stderr


def test_network_none_has_only_loopback(run: Callable[..., str]) -> None:
    assert run("--network", "none", script="ls /sys/class/net").split() == ["lo"]


def test_default_network_has_a_tap_device(run: Callable[..., str]) -> None:
    interfaces = run(script="ls /sys/class/net").split()
    assert "lo" in interfaces and len(interfaces) == 2


def test_network_host_sees_the_hosts_interfaces(run: Callable[..., str]) -> None:
    host = sorted(os.listdir("/sys/class/net"))
    assert sorted(run("--network", "host", script="ls /sys/class/net").split()) == host


def test_add_host_and_dns(run: Callable[..., str]) -> None:
    out = run("--add-host", "db.example:10.9.8.7", "--dns", "192.0.2.53", "--hostname", "h1",
              script="cat /etc/hosts; echo ---; cat /etc/resolv.conf")
    hosts, _, resolv = out.partition("---\n")
    assert any(line.split() == ["10.9.8.7", "db.example"] for line in hosts.splitlines())
    assert any(line.split()[:1] == ["127.0.0.1"] and "localhost" in line for line in hosts.splitlines())
    assert "h1" in hosts
    assert [line.split()[1] for line in resolv.splitlines() if line.startswith("nameserver")] == ["192.0.2.53"]


def test_bad_ulimits_are_refused_at_create(engine: Engine, busybox: str) -> None:
    import docker
    client = engine.client()
    before = len(client.containers.list(all=True))
    for ulimit in (docker.types.Ulimit(name="bogus", soft=1, hard=1),
                   docker.types.Ulimit(name="nofile", soft=10, hard=5)):
        with pytest.raises(docker.errors.APIError) as refused:
            client.containers.create(busybox, ["true"], ulimits=[ulimit])
        assert refused.value.status_code == 400 and "invalid ulimit" in str(refused.value)
    assert len(client.containers.list(all=True)) == before
    for tool in (engine.cli, engine.docker):  # the CLIs refuse before asking: 125 for create as for run
        parsed = tool("create", "--ulimit", "bogus=1", busybox, check=False)
        assert parsed.returncode == 125 and "invalid ulimit type: bogus" in parsed.stderr


def test_create_refused_by_the_daemon_exits_1_like_docker(engine: Engine, busybox: str) -> None:
    for tool in (engine.cli, engine.docker):
        refused = tool("create", "--name", "bad/name", busybox, check=False)
        assert refused.returncode == 1 and "Invalid container name (bad/name)" in refused.stderr


def test_the_host_is_reachable_by_name(run: Callable[..., str]) -> None:
    # Only the host's loopback may serve here: through --network host and docker's host-gateway.
    # (On the default network slirp4netns has no host loopback; host.docker.internal is the host's address.)
    import http.server
    import threading
    from rootless.engine.container_spec import host_address

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = b"from-the-host\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        out = run("--network", "host", "--add-host", "gw:host-gateway", script=f"wget -qO- http://gw:{port}/")
        assert out == "from-the-host\n"
    finally:
        server.shutdown()
        server.server_close()
    hosts = run(script="cat /etc/hosts").splitlines()
    named = [line.split()[0] for line in hosts if "host.docker.internal" in line.split()]
    assert named == ([host_address()] if host_address() else [])
