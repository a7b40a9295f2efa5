"""Network: published-port throughput and connect latency, container-to-container and outbound throughput.

Start as root; everything runs as the unprivileged --user. Ours (docker CLI on
our socket, a user network in the shared namespace) and podman in the same run
(a `podman network create` network: netavark, rootlessport). Rows per uplink
backend (slirp4netns, pasta). Published ports and container to container do
not go through the uplink (kernel sockets from the port forwarder into the
namespace; the bridge): their rows are one measurement, printed under each
backend and marked so. Outbound (a container's client to a server on the host)
does: one row per backend and engine, `run --network slirp4netns|pasta` (the
container's own uplink, podman's syntax) and a client on the user network
(the shared namespace's uplink). A mode an engine refuses is printed as such.
Prints medians and p10 (throughput) / p90 (latency) and the ratios ours/podman.
See bench/README.md.

The servers and clients are the host's Python, bind-mounted read-only into
the busybox image and started through the dynamic loader (as in
tests/integration/containers/test_published_ports.py): the same program on
both engines, no image build.
"""
from __future__ import annotations

import inspect
import json
import os
import socket
import sys
import time
import uuid
from contextlib import ExitStack
from typing import Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import harness  # noqa: E402
from tests.fakes import sink  # noqa: E402

LOADER = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
PORT = 7000
CONNECTS = 50  # connect-latency samples per round (enough for a p90 per run)
# The server in the containers: tests/fakes/sink.py's text, run with the port as argument.
SINK = inspect.getsource(sink)
# Both senders end alike: mb MiB over the connected socket s, timed inside (no start-up),
# and the sink's byte count checked; elapsed holds the seconds.
TIMED_SEND = """
chunk = b"x" * (1 << 20)
start = time.monotonic()
for _ in range(mb):
    s.sendall(chunk)
s.shutdown(socket.SHUT_WR)
got = s.recv(64)
elapsed = time.monotonic() - start
assert int(got) == mb << 20, got
"""

# argv: host port megabytes; prints the seconds the transfer took.
SEND = """
import socket, sys, time
host, port, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for attempt in range(100):
    try:
        s = socket.create_connection((host, port), timeout=30); break
    except OSError:
        time.sleep(0.1)
s.recv(1)
""" + TIMED_SEND + """print(elapsed)
"""

# argv: port megabytes candidate-hosts...; the first host whose server answers "+" (the host's
# address through slirp4netns; the gateway through pasta, whose namespace has the host's address
# itself, its gateway mapped to the host). Prints the seconds and the address used.
OUT_SEND = """
import socket, sys, time
port, mb, hosts = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
with open("/proc/net/route") as f:
    for line in f.read().splitlines()[1:]:
        field = line.split()
        if field[1] == "00000000":
            hosts.append(socket.inet_ntoa(int(field[2], 16).to_bytes(4, "little")))
for host in hosts:
    try:
        s = socket.create_connection((host, port), timeout=3)
        if s.recv(1) == b"+":
            break
    except OSError:
        pass
else:
    sys.exit("no host server at " + ", ".join(hosts))
""" + TIMED_SEND + """print(elapsed, host)
"""
BACKENDS = ("slirp4netns", "pasta")
NOT_UPLINK = "not through the uplink"

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
                  *python_args(self.image, SINK, str(PORT)))
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


def host_address() -> str:
    """The host's address toward its default route (no packet sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("198.51.100.1", 9))  # TEST-NET-2: any address the default route takes
        address: str = probe.getsockname()[0]
        return address


class Outbound:
    """A container's client pushing to the host's sink through one uplink: `run --rm <network args>`."""

    def __init__(self, name: str, backend: str, run: Callable[..., "object"], image: str,
                 network_args: Sequence[str], sink_port: int) -> None:
        self.name, self.backend, self._run, self.image = name, backend, run, image
        self.network_args, self.sink_port = list(network_args), sink_port
        self.refused = ""
        self.address = ""

    def send(self, mb: int) -> float:
        out = self._run("run", "--rm", *self.network_args,
                        *python_args(self.image, OUT_SEND, str(self.sink_port), str(mb), host_address()))
        seconds, self.address = str(getattr(out, "stdout", "")).strip().splitlines()[-1].split()
        return float(seconds)

    def probe(self) -> None:
        """One small transfer; an engine that refuses the mode (or can't reach the host) gets a note instead."""
        try:
            self.send(1)
        except Exception as exc:  # noqa: BLE001 - any failure is reported in the table, not fatal
            lines = str(getattr(exc, "stderr", "") or exc).strip().splitlines()
            # the engine's own line, not docker's "Run 'docker run --help'" nor the echoed client script
            errors = [line for line in lines if line.lstrip().startswith(("Error", "docker: Error"))] or lines[-1:]
            self.refused = (errors[0] if errors else type(exc).__name__)[:110]


def measure(sides: Sequence[Side], outbound: Sequence[Outbound], runs: int, mb: int) -> Dict[str, List[float]]:
    """Round-robin over the engines so machine noise hits all alike; seconds (MiB/s for throughput)."""
    samples: Dict[str, List[float]] = {}
    for _ in range(runs):
        for side in sides:
            # first, while nothing else of this round runs (a `run --rm` still tearing down skews it)
            samples.setdefault(f"{side.name}: connect ms", []).extend(
                harness.timed(lambda: connect_once(side.port)) * 1000 for _ in range(CONNECTS))
            samples.setdefault(f"{side.name}: host->ctr MiB/s", []).append(mb / host_send(side.port, mb))
            samples.setdefault(f"{side.name}: ctr->ctr MiB/s", []).append(mb / side.container_to_container(mb))
        for out in outbound:
            if not out.refused:
                samples.setdefault(f"{out.name}: outbound MiB/s", []).append(mb / out.send(mb))
    return samples


def _row(name: str, values: List[float], note: str) -> float:
    ordered = sorted(values)
    median = ordered[len(ordered) // 2]
    # throughput: the bad tail is the low end; latency: the high end
    tail = ordered[len(ordered) // 10] if "MiB/s" in name else ordered[(len(ordered) * 9) // 10]
    print(f"{name:<52} {median:>10.1f} {tail:>10.1f}  {note}")
    return median


def report(samples: Dict[str, List[float]], sides: Sequence[Side], outbound: Sequence[Outbound],
           notes: Dict[str, str]) -> None:
    for backend in BACKENDS:
        print(f"\n== uplink {backend} ==  (published ports and ctr->ctr don't pass through the uplink:"
              " the same samples under each backend)")
        print(f"{'what':<52} {'median':>10} {'p10/p90':>10}  note")
        medians: Dict[str, float] = {}
        for side in sides:
            for what in ("connect ms", "host->ctr MiB/s", "ctr->ctr MiB/s"):
                key = f"{side.name}: {what}"
                if key in samples:
                    medians[key] = _row(key, samples[key], f"{NOT_UPLINK}; {notes.get(side.name, '')}")
        for out in (o for o in outbound if o.backend == backend):
            key = f"{out.name}: outbound MiB/s"
            if out.refused:
                print(f"{key:<52} {'-':>10} {'-':>10}  refused: {out.refused}")
            else:
                medians[key] = _row(key, samples[key], f"to the host via {out.address}")
        _ratios(medians, sides, [o for o in outbound if o.backend == backend])


def _ratios(medians: Dict[str, float], sides: Sequence[Side], outbound: Sequence[Outbound]) -> None:
    ours = sides[0].name
    for other in sides[1:]:
        for what in ("host->ctr MiB/s", "ctr->ctr MiB/s", "connect ms"):
            print(f"{what:<18} {ours} / {other.name}: "
                  f"{harness.ratio(medians.get(f'{ours}: {what}'), medians.get(f'{other.name}: {what}'))}")
    mine = [o for o in outbound if o.name.startswith("ours")]
    theirs = [o for o in outbound if not o.name.startswith("ours")]
    for a in mine:
        for b in theirs:
            if a.network_args[-1:] == b.network_args[-1:] or ("user" in a.name and "user" in b.name):
                print(f"outbound MiB/s      {a.name} / {b.name}: "
                      f"{harness.ratio(medians.get(f'{a.name}: outbound MiB/s'), medians.get(f'{b.name}: outbound MiB/s'))}")


def podman_sides(pm: harness.Podman, image: str) -> Tuple[List[Side], Dict[str, str]]:
    """podman on a user network (netavark + rootlessport)."""
    network = f"nbp{uuid.uuid4().hex[:6]}"
    pm.run("network", "create", network)
    side = Side("podman-usernet", pm.run, image, network)
    return [side], {side.name: "netavark bridge in rootless-netns, rootlessport"}


def shared_uplink(engine: object) -> str:
    """Which uplink our shared namespace runs (its state file; the daemon picks it, not this bench)."""
    try:
        with open(os.path.join(str(getattr(engine, "run_dir")), "netns", "uplink.json")) as f:
            return str(json.load(f).get("kind") or "slirp4netns")
    except (OSError, ValueError):
        return "slirp4netns"


def outbound_clients(engine: object, pm: harness.Podman, image: str, ours_net: str, podman_net: str,
                     sink_port: int) -> List[Outbound]:
    """Per backend: each engine's `--network <backend>` and (under its uplink) each user network."""
    docker = getattr(engine, "docker")
    clients = []
    for backend in BACKENDS:
        clients.append(Outbound(f"ours --network {backend}", backend, docker, image, ["--network", backend],
                                sink_port))
        clients.append(Outbound(f"podman --network {backend}", backend, pm.run, image, ["--network", backend],
                                sink_port))
    # podman 4.3's rootless-netns has slirp4netns as its uplink (pasta there came with podman 5)
    clients.append(Outbound("ours user network", shared_uplink(engine), docker, image, ["--network", ours_net],
                            sink_port))
    clients.append(Outbound("podman user network", "slirp4netns", pm.run, image, ["--network", podman_net],
                            sink_port))
    return clients


def main(argv: Sequence[str]) -> int:
    parser = harness.argument_parser(__doc__, runs=10)
    parser.add_argument("--mb", type=int, default=256, help="MiB per throughput sample")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        user, images, engine = harness.set_up(stack, args)
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
        host_sink = sink.start("0.0.0.0")  # the outbound target, on every address the containers may use
        stack.callback(host_sink.close)
        outbound = outbound_clients(engine, pm, images.busybox, network, theirs[0].network,
                                    host_sink.getsockname()[1])
        for out in outbound:
            out.probe()
        samples = measure(sides, outbound, args.runs, args.mb)
        report(samples, sides, outbound, notes)
        harness.dump_json(args.json, {"samples": samples,
                                      "refused": {o.name: o.refused for o in outbound if o.refused}})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
