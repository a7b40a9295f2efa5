"""pasta (package passt) for a container's network namespace: the faster backend.

Modelled on podman's pkg/pasta: pasta joins the namespace by path, copies
the host's address and routes into it (--config-net), forwards only the
published ports, and answers DNS sent to DNS_FORWARD with the host's
resolver. Without --foreground it daemonises once the namespace is
configured, so its parent's exit is the readiness signal. It keeps running
after the container exits, so the monitor stops it through its pid file.

pasta (2023 builds) refuses to start when SIGPIPE is inherited as ignored
("Couldn't install signal handlers"); subprocess restores SIGPIPE for the
children it starts, but a shell started from Python (rootless unshare) does not.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from dataclasses import replace
from typing import Iterator, List, Sequence

from rootless.errors import InvalidArgument, ToolError
from rootless.runtime.network.slirp import PortMapping, allocate_host_port, check_host_port
from rootless.util import proc

logger = logging.getLogger(__name__)

BINARY = "pasta"
# Link-local address the container's resolv.conf names; pasta forwards it to the host's DNS.
DNS_FORWARD = "169.254.1.1"
READY_TIMEOUT = 10.0


def port_spec(mapping: PortMapping) -> str:
    """-t/-u SPEC: [host_addr/]host_port:container_port."""
    address = f"{mapping.host_ip}/" if mapping.host_ip and mapping.host_ip != "0.0.0.0" else ""
    return f"{address}{mapping.host_port}:{mapping.container_port}"


# `--network pasta:OPTS` (podman's syntax): options that shape the container's network only,
# never where pasta runs, as whom, or what it writes or executes. name -> takes a value.
USER_OPTIONS = {
    "-t": True, "--tcp-ports": True, "-u": True, "--udp-ports": True,
    "-T": True, "--tcp-ns": True, "-U": True, "--udp-ns": True,
    "-m": True, "--mtu": True, "-a": True, "--address": True, "-n": True, "--netmask": True,
    "-g": True, "--gateway": True, "-M": True, "--mac-addr": True, "-D": True, "--dns": True,
    "-I": True, "--ns-ifname": True, "-o": True, "--outbound": True,
    "-4": False, "--ipv4-only": False, "-6": False, "--ipv6-only": False,
    "--no-tcp": False, "--no-udp": False, "--no-icmp": False, "--no-dhcp": False, "--no-ndp": False,
    "--no-dhcpv6": False, "--no-ra": False,
}
_LONG_FLAG = {"-t": "--tcp-ports", "-u": "--udp-ports", "-T": "--tcp-ns", "-U": "--udp-ns"}


def parse_user_options(text: str) -> List[str]:
    """pasta's argv from "-t,8080,--mtu=1400" (comma-separated, podman's syntax); others refused."""
    argv: List[str] = []
    items = [item for item in text.split(",") if item]
    index = 0
    while index < len(items):
        name, eq, _ = items[index].partition("=")
        takes = USER_OPTIONS.get(name)
        if takes is None or (eq and not (takes and name.startswith("--"))):
            raise InvalidArgument(f"network mode pasta:{text}: pasta option {items[index]!r} is not allowed",
                                  hint="allowed: " + " ".join(sorted(USER_OPTIONS)))
        if takes and not eq:
            if index + 1 >= len(items):
                raise InvalidArgument(f"network mode pasta:{text}: pasta option {name} needs a value")
            argv += [name, items[index + 1]]
            index += 2
            continue
        argv.append(items[index])
        index += 1
    return argv


def _given(options: Sequence[str], flag: str) -> bool:
    return any(o.partition("=")[0] in (flag, _LONG_FLAG[flag]) for o in options)


def pasta_argv(netns: str, ports: Sequence[PortMapping], pid_file: str, binary: str = BINARY,
               options: Sequence[str] = ()) -> List[str]:
    """argv for pasta joining the network namespace at netns; ports need their host_port set.

    options: parse_user_options's; a forward flag the user gives replaces our "none" for it
    (pasta refuses "none" next to specific ports).
    """
    # We are root in our user namespace; pasta would otherwise drop to "nobody",
    # a subordinate id that may not open the container's namespace.
    argv = [binary, "--config-net", "--quiet", "--runas", "0:0", "--pid", pid_file, "--no-map-gw",
            "--dns-forward", DNS_FORWARD]
    argv += [a for flag in ("-T", "-U") if not _given(options, flag) for a in (flag, "none")]
    for proto, flag in (("tcp", "-t"), ("udp", "-u")):
        specs = [port_spec(m) for m in ports if m.proto == proto]
        if specs or not _given(options, flag):
            argv += [flag, ",".join(specs) if specs else "none"]
    argv += list(options)
    unsupported = [m for m in ports if m.proto not in ("tcp", "udp")]
    if unsupported:
        raise InvalidArgument(f"can't publish port: {unsupported[0].container_port}/{unsupported[0].proto}: "
                              "pasta forwards tcp and udp only")
    argv += ["--netns", netns]
    return argv


def with_host_ports(ports: Sequence[PortMapping]) -> List[PortMapping]:
    """Pick free host ports for mappings that asked for any (HostPort "")."""
    return [m if m.host_port else replace(m, host_port=allocate_host_port(m.proto, m.host_ip))
            for m in ports]


def _read_pid(pid_file: str) -> int:
    try:
        with open(pid_file, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 0


def _stop(pid: int) -> None:
    """SIGTERM the daemonised pasta if it is still ours and running."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"pasta" not in f.read():
                return
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            # The monitor is a subreaper, so the daemonised pasta is its child.
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            if not os.path.exists(f"/proc/{pid}"):
                return
        time.sleep(0.01)


@contextlib.contextmanager
def run_pasta(pid: int, ports: Sequence[PortMapping], pid_file: str,
              binary: str = BINARY, options: Sequence[str] = ()) -> Iterator[List[PortMapping]]:
    """Network pid's namespace through pasta for the with block; yields the ports used."""
    resolved = with_host_ports(ports)
    for mapping in resolved:  # pasta binds what it can and goes on: refuse a taken port first
        check_host_port(mapping)
    # A created container's init is not dumpable yet, and pasta drops
    # CAP_SYS_PTRACE before it opens the namespace: hand it an open fd instead.
    netns_fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        argv = pasta_argv(f"/proc/self/fd/{netns_fd}", resolved, pid_file, binary, options)
        proc.run(argv, tool=BINARY, timeout=READY_TIMEOUT, stdout=proc.DEVNULL, pass_fds=(netns_fd,))
    except ToolError as exc:
        exc.hint = exc.hint or "is a published port in use on the host?"
        raise
    finally:
        os.close(netns_fd)
    helper = _read_pid(pid_file)
    logger.debug("pasta %d networks pid %d", helper, pid)
    try:
        yield resolved
    finally:
        if helper:
            _stop(helper)
