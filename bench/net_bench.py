"""Network: published-port throughput and connect latency, container-to-container throughput.

Start as root; everything runs as the unprivileged --user. Ours (docker CLI on
our socket, a user network in the shared namespace) and podman in the same run
(a `podman network create` network: netavark, rootlessport). Neither path
measured goes through the uplink (slirp4netns or pasta): published ports are
kernel sockets from the port forwarder into the namespace, container to
container is the bridge; so one row stands for both uplinks. Prints medians
and p10 (throughput) / p90 (latency) and the ratios ours/podman. See
bench/README.md.

The servers and clients are the host's Python, bind-mounted read-only into
the busybox image and started through the dynamic loader (as in
tests/integration/containers/test_published_ports.py): the same program on
both engines, no image build.
"""
from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from contextlib import ExitStack
from typing import Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import harness  # noqa: E402
from bench.harness import imagebuild  # noqa: E402

LOADER = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
PORT = 7000
CONNECTS = 20  # connect-latency samples per round
# On accept: one byte (the connect-latency probe reads it and closes), then read
# to EOF and answer with the byte count (the throughput client).
SINK = """
import socket
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", 7000))
t.listen(64)
while True:
    c, _ = t.accept()
    try:
        c.sendall(b"+")
        n = 0
        while True:
            b = c.recv(1 << 20)
            if not b:
                break
            n += len(b)
        c.sendall(str(n).encode())
    except OSError:
        pass
    c.close()
"""
# argv: host port megabytes; prints the seconds the transfer took (timed inside, no start-up).
SEND = """
import socket, sys, time
host, port, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for attempt in range(100):
    try:
        s = socket.create_connection((host, port), timeout=30); break
    except OSError:
        time.sleep(0.1)
s.recv(1)
chunk = b"x" * (1 << 20)
start = time.monotonic()
for _ in range(mb):
    s.sendall(chunk)
s.shutdown(socket.SHUT_WR)
got = s.recv(64)
elapsed = time.monotonic() - start
assert int(got) == mb << 20, got
print(elapsed)
"""

Rows = List[Tuple[str, Optional[List[float]], str]]


def python_args(image: str, code: str, *args: str) -> List[str]:
    return ["-v", "/usr:/usr:ro", "--entrypoint", LOADER, image, "/usr/bin/python3", "-c", code, *args]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        port: int = probe.getsockname()[1]
        return port


class Side:
    """One engine's set-up: a network, a sink server with a published port; how to run a client."""

    def __init__(self, name: str, run: Callable[..., "object"], image: str, network: str) -> None:
        self.name, self._run, self.image, self.network = name, run, image, network
        self.port = free_port()
        self.server = f"nb{uuid.uuid4().hex[:6]}"

    def start(self) -> None:
        self._run("run", "-d", "--name", self.server, "--network", self.network, "-p", f"127.0.0.1:{self.port}:{PORT}",
                  *python_args(self.image, SINK))
        self.address = self._out("inspect", "-f", f"{{{{.NetworkSettings.Networks.{self.network}.IPAddress}}}}",
                                 self.server).strip()
        for _ in range(100):  # the server listens a moment after `run -d` returns
            try:
                host_send(self.port, 1)
                return
            except (OSError, ValueError, AssertionError):
                time.sleep(0.1)
        raise RuntimeError(f"{self.name}: nothing answers on the published port {self.port}")

    def _out(self, *args: str) -> str:
        return str(getattr(self._run(*args), "stdout", ""))

    def container_to_container(self, mb: int) -> float:
        out = self._out("run", "--rm", "--network", self.network,
                        *python_args(self.image, SEND, self.address, str(PORT), str(mb)))
        return float(out.strip().splitlines()[-1])

    def stop(self) -> None:
        self._run("rm", "-f", self.server, check=False)


def host_send(port: int, mb: int) -> float:
    """Seconds to push mb MiB through the published port from the host."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.recv(1)
        chunk = b"x" * (1 << 20)
        start = time.monotonic()
        for _ in range(mb):
            s.sendall(chunk)
        s.shutdown(socket.SHUT_WR)
        got = s.recv(64)
        elapsed = time.monotonic() - start
    assert int(got) == mb << 20, got
    return elapsed


def connect_once(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.recv(1)


def measure(sides: Sequence[Side], runs: int, mb: int) -> Dict[str, List[float]]:
    """Round-robin over the engines so machine noise hits all alike; seconds (MiB/s for throughput)."""
    samples: Dict[str, List[float]] = {}
    for _ in range(runs):
        for side in sides:
            # first, while nothing else of this round runs (a `run --rm` still tearing down skews it)
            samples.setdefault(f"{side.name}: connect ms", []).extend(
                harness.timed(lambda: connect_once(side.port)) * 1000 for _ in range(CONNECTS))
            samples.setdefault(f"{side.name}: host->ctr MiB/s", []).append(mb / host_send(side.port, mb))
            samples.setdefault(f"{side.name}: ctr->ctr MiB/s", []).append(mb / side.container_to_container(mb))
    return samples


def report(samples: Dict[str, List[float]], sides: Sequence[Side], notes: Dict[str, str]) -> None:
    print(f"\n{'what':<40} {'median':>10} {'p10/p90':>10}  note")
    medians: Dict[str, float] = {}
    for name, values in samples.items():
        ordered = sorted(values)
        median = ordered[len(ordered) // 2]
        # throughput: the bad tail is the low end; latency: the high end
        tail = ordered[len(ordered) // 10] if "MiB/s" in name else ordered[(len(ordered) * 9) // 10]
        medians[name] = median
        side = name.split(":")[0]
        print(f"{name:<40} {median:>10.1f} {tail:>10.1f}  {notes.get(side, '')}")
    ours = sides[0].name
    print()
    for other in sides[1:]:
        for what in ("host->ctr MiB/s", "ctr->ctr MiB/s", "connect ms"):
            print(f"{what:<18} {ours} / {other.name}: "
                  f"{harness.ratio(medians.get(f'{ours}: {what}'), medians.get(f'{other.name}: {what}'))}")


def podman_sides(pm: harness.Podman, image: str) -> Tuple[List[Side], Dict[str, str]]:
    """podman on a user network (netavark + rootlessport); its pasta network if that runs here."""
    sides: List[Side] = []
    notes: Dict[str, str] = {}
    network = f"nbp{uuid.uuid4().hex[:6]}"
    pm.run("network", "create", network)
    sides.append(Side("podman-usernet", pm.run, image, network))
    notes["podman-usernet"] = "netavark bridge in rootless-netns, slirp4netns uplink, rootlessport"
    return sides, notes


def main(argv: Sequence[str]) -> int:
    parser = harness.argument_parser(__doc__, runs=10)
    parser.add_argument("--mb", type=int, default=256, help="MiB per throughput sample")
    args = parser.parse_args(argv)
    user = harness.bench_user(args.user, args.source)
    with ExitStack() as stack:
        stack.enter_context(harness.bytecode_cache(user, True))
        reg = stack.enter_context(harness.registry())
        images = imagebuild.build_and_push(reg.client)
        engine = stack.enter_context(harness.engine(user))
        engine.docker("pull", "-q", images.busybox)
        pm = stack.enter_context(harness.podman(user))
        pm.run("pull", "-q", "--tls-verify=false", images.busybox)
        network = f"nbo{uuid.uuid4().hex[:6]}"
        engine.docker("network", "create", network)
        ours = Side("ours", engine.docker, images.busybox, network)
        theirs, notes = podman_sides(pm, images.busybox)
        notes["ours"] = "user network in the shared namespace, port_forwarder (kernel sockets, client address kept)"
        sides = [ours, *theirs]
        for side in sides:
            stack.callback(side.stop)
            side.start()
        samples = measure(sides, args.runs, args.mb)
        report(samples, sides, notes)
        harness.dump_json(args.json, {"samples": samples})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
