"""slirp4netns for a container's network namespace, and its port forwards.

The monitor owns the helper, as conmon owns slirp4netns in podman; the
ready-fd/exit-fd pattern is rootlesskit's (pkg/network/slirp4netns): the
helper writes to --ready-fd once the tap is configured, and exits when
--exit-fd is closed, so it also goes away if the monitor is killed.
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import errno
import socket
from dataclasses import dataclass, replace
from typing import Dict, Iterator, List, Optional

from rootless.errors import Conflict, InvalidArgument, ToolError
from rootless.util import proc

logger = logging.getLogger(__name__)

BINARY = "slirp4netns"
MTU = 65520
TAP = "tap0"
# The fixed addresses slirp4netns gives 10.0.2.0/24 (slirp4netns.1, "--cidr").
GATEWAY = "10.0.2.2"
DNS_SERVER = "10.0.2.3"
GUEST_ADDRESS = "10.0.2.100"
READY_TIMEOUT = 10.0


@dataclass(frozen=True)
class Features:
    """What this slirp4netns build supports, from its --help text."""

    sandbox: bool = False
    seccomp: bool = False
    api_socket: bool = False
    disable_host_loopback: bool = False

    def to_json(self) -> Dict[str, bool]:
        return {"sandbox": self.sandbox, "seccomp": self.seccomp, "api_socket": self.api_socket,
                "disable_host_loopback": self.disable_host_loopback}

    @classmethod
    def from_json(cls, data: Dict[str, bool]) -> "Features":
        return cls(**{k: bool(v) for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class PortMapping:
    """One published port; host_port 0 means pick a free one."""

    proto: str
    container_port: int
    host_port: int = 0
    host_ip: str = ""

    def to_json(self) -> Dict[str, object]:
        return {"proto": self.proto, "container_port": self.container_port,
                "host_port": self.host_port, "host_ip": self.host_ip}

    @classmethod
    def from_json(cls, data: Dict[str, object]) -> "PortMapping":
        return cls(str(data.get("proto") or "tcp"), int(data["container_port"]),  # type: ignore[call-overload]
                   int(data.get("host_port") or 0), str(data.get("host_ip") or ""))  # type: ignore[call-overload]


def parse_features(help_text: str) -> Features:
    return Features(
        sandbox="--enable-sandbox" in help_text,
        seccomp="--enable-seccomp" in help_text,
        api_socket="--api-socket" in help_text,
        disable_host_loopback="--disable-host-loopback" in help_text,
    )


@functools.lru_cache(maxsize=4)
def detect_features(binary: str = BINARY) -> Features:
    """Ask the binary once; an unusable binary supports nothing."""
    try:
        return parse_features(proc.run([binary, "--help"], tool=BINARY, check=False, timeout=10).text)
    except ToolError:
        return Features()


def slirp_argv(
    pid: int,
    api_socket: Optional[str],
    exit_fd: int,
    features: Features,
    binary: str = BINARY,
    mtu: int = MTU,
    allow_host_loopback: bool = False,
) -> List[str]:
    """argv without --ready-fd (proc.spawn inserts that)."""
    argv = [binary, "--configure", f"--mtu={mtu}"]
    if features.disable_host_loopback and not allow_host_loopback:
        argv.append("--disable-host-loopback")
    if features.sandbox:
        argv.append("--enable-sandbox")
    if features.seccomp:
        argv.append("--enable-seccomp")
    if api_socket and features.api_socket:
        argv += ["--api-socket", api_socket]
    argv += [f"--exit-fd={exit_fd}", str(pid), TAP]
    return argv


@contextlib.contextmanager
def run_slirp(pid: int, api_socket: Optional[str], binary: str = BINARY,
              allow_host_loopback: bool = False, features: Optional[Features] = None) -> Iterator[int]:
    """Give pid's network namespace a configured tap0 for the with block; yields slirp's pid.

    features: as detected by the daemon (MonitorConfig), else asked of the binary here.
    """
    features = features or detect_features(binary)
    exit_r, exit_w = os.pipe()
    try:
        argv = slirp_argv(pid, api_socket, exit_r, features, binary, allow_host_loopback=allow_host_loopback)
        with proc.spawn(argv, tool=BINARY, ready_fd_arg=lambda fd: [f"--ready-fd={fd}"],
                        ready_timeout=READY_TIMEOUT, pass_fds=(exit_r,)) as helper:
            os.close(exit_r)
            exit_r = -1
            try:
                yield helper.pid
            finally:
                os.close(exit_w)  # slirp4netns exits on EOF of --exit-fd
                exit_w = -1
    finally:
        for fd in (exit_r, exit_w):
            if fd >= 0:
                os.close(fd)


def allocate_host_port(proto: str = "tcp", host_ip: str = "") -> int:
    """A port the kernel considers free now (bind to 0), for HostPort ""."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    with socket.socket(family, kind) as probe:
        probe.bind((host_ip or "", 0))
        port: int = probe.getsockname()[1]
        return port


def port_in_use(mapping: PortMapping) -> Conflict:
    """Docker's words for a taken host port (its userland proxy's listen error), which clients match."""
    family = "6" if ":" in mapping.host_ip else "4"
    address = mapping.host_ip or "0.0.0.0"
    shown = f"[{address}]" if family == "6" else address
    return Conflict(f"driver failed programming external connectivity: listen {mapping.proto}{family} "
                    f"{shown}:{mapping.host_port}: bind: address already in use",
                    hint="another program (or container) uses this port; pick another host port or stop it")


def check_host_port(mapping: PortMapping) -> None:
    """Refuse a host port something already holds, before the uplink is asked.

    slirp4netns answers a taken port with an opaque message, and pasta
    binds what it can and goes on: this check gives docker's error. TCP
    probes with SO_REUSEADDR (as both helpers bind), so a port left in
    TIME_WAIT by a stopped container is free, as it is for docker.
    """
    kind = socket.SOCK_STREAM if mapping.proto == "tcp" else socket.SOCK_DGRAM
    family = socket.AF_INET6 if ":" in mapping.host_ip else socket.AF_INET
    with socket.socket(family, kind) as probe:
        if kind == socket.SOCK_STREAM:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((mapping.host_ip or "", mapping.host_port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise port_in_use(mapping) from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise InvalidArgument(f"can't publish port {mapping.host_port}/{mapping.proto}: "
                                      f"bind: permission denied",
                                      hint="ports below net.ipv4.ip_unprivileged_port_start need root") from None
            raise


def hostfwd_request(mapping: PortMapping, guest_addr: str = "") -> Dict[str, object]:
    """The API request slirp4netns's add_hostfwd takes (slirp4netns.1, "API SOCKET").

    guest_addr: forward to this address behind the tap (a container on a
    bridge of the shared namespace) instead of slirp's own guest address.
    """
    if mapping.proto not in ("tcp", "udp"):
        raise InvalidArgument(f"can't publish port: {mapping.container_port}/{mapping.proto}: "
                              "slirp4netns forwards tcp and udp only")
    arguments: Dict[str, object] = {
        "proto": mapping.proto, "host_addr": mapping.host_ip or "0.0.0.0",
        "host_port": mapping.host_port, "guest_port": mapping.container_port}
    if guest_addr:
        arguments["guest_addr"] = guest_addr
    return {"execute": "add_hostfwd", "arguments": arguments}


def api_call(api_socket: str, request: Dict[str, object], timeout: float = 5.0) -> Dict[str, object]:
    """One request on slirp4netns's API socket; it answers and closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(api_socket)
        conn.sendall(json.dumps(request).encode())
        conn.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                break
            chunks.append(chunk)
    reply: Dict[str, object] = json.loads(b"".join(chunks) or b"{}")
    return reply


def raise_for_reply(mapping: PortMapping, reply: Dict[str, object]) -> None:
    """An add_hostfwd error as docker's "address already in use" when that is what it is."""
    if "error" not in reply:
        return
    error = reply["error"]
    detail = str(error.get("desc", error) if isinstance(error, dict) else error)
    # slirp4netns 1.2: "add_hostfwd: slirp_add_hostfwd failed" for a port taken since the check
    if "in use" in detail or "slirp_add_hostfwd failed" in detail:
        raise port_in_use(mapping)
    raise ToolError(BINARY, f"can't publish port {mapping.host_port}/{mapping.proto}: {detail}",
                    hint="is the port in use on the host?")


def add_hostfwd(api_socket: str, mapping: PortMapping) -> PortMapping:
    """Forward a host port to the container; returns the mapping with the port used."""
    if not mapping.host_port:
        mapping = replace(mapping, host_port=allocate_host_port(mapping.proto, mapping.host_ip))
    check_host_port(mapping)
    raise_for_reply(mapping, api_call(api_socket, hostfwd_request(mapping)))
    logger.debug("port %s:%d -> %d/%s", mapping.host_ip or "0.0.0.0", mapping.host_port,
                 mapping.container_port, mapping.proto)
    return mapping
