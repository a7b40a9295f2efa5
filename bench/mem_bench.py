"""Memory per running container: our monitor vs podman's conmon (and their network helpers).

Starts N detached `sleep` containers with each engine, finds each container's
monitor (the parent of its init: our monitor or conmon) and sums
/proc/PID/smaps_rollup for it and for any other child of it. With a network,
the user's slirp4netns/pasta processes that appeared with the containers (podman's
one per container, not children of conmon; our bridge's one shared uplink) are
summed and divided by N: "network helpers", per container. PSS splits shared pages among the processes mapping
them, so N monitors forked from one zygote share the interpreter's pages;
USS (Private_Clean + Private_Dirty) is what one more container costs at least.
Prints medians over the N containers, in kB. See bench/README.md.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from contextlib import ExitStack
from typing import Callable, Dict, List, Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import harness  # noqa: E402
from bench.harness import it  # noqa: E402

FIELDS = ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Shared_Clean", "Shared_Dirty")


def rollup(pid: int) -> Dict[str, int]:
    """smaps_rollup of one process, kB (smem's PSS and USS come from the same counters)."""
    values: Dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].rstrip(":") in FIELDS:
                values[parts[0].rstrip(":")] = int(parts[1])
    values["Uss"] = values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)
    return values


def parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def children(pid: int) -> List[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if parent(int(name)) == pid:
                    found.append(int(name))
            except OSError:
                continue
    return found


def monitor_usage(init_pid: int) -> Dict[str, Dict[str, int]]:
    """The monitor's own counters and those of its other children (the helpers)."""
    monitor = parent(init_pid)
    usage = {"monitor": rollup(monitor)}
    for child in children(monitor):
        if child != init_pid:
            usage[comm(child)] = rollup(child)
    return usage


NETWORK_HELPERS = ("slirp4netns", "pasta", "pasta.avx2")


def network_helpers(uid: int) -> Dict[int, Dict[str, int]]:
    """The user's slirp4netns/pasta processes, whoever started them, with their counters.

    podman's per-container slirp4netns is not a child of conmon, and our bridge's
    uplink is shared by every container: counting them by owner catches both.
    """
    found: Dict[int, Dict[str, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid == uid and comm(int(name)) in NETWORK_HELPERS:
                found[int(name)] = rollup(int(name))
        except OSError:
            continue
    return found


def start_all(start: Callable[[str], str], pid_of: Callable[[str], int], count: int) -> List[int]:
    ids = [start(f"membench{index}") for index in range(count)]
    time.sleep(1.0)  # let every monitor reach its steady state (ready reported, helpers up)
    return [pid_of(cid) for cid in ids]


def helpers_per_container(uid: int, before: Dict[int, Dict[str, int]], count: int) -> Dict[str, float]:
    """PSS/USS of the network helpers that appeared with the containers, divided among them.

    A helper already running before the first container (our bridge's uplink, once
    started) is counted too when it is the only one: it serves these containers.
    """
    now = network_helpers(uid)
    new = {pid: values for pid, values in now.items() if pid not in before} or now
    totals = {field: float(sum(values.get(field, 0) for values in new.values())) for field in ("Pss", "Uss", "Rss")}
    per = {field: total / count for field, total in totals.items()}
    print(f"network helpers: {len(new)} process(es) for {count} containers; per container "
          f"Pss {per['Pss']:.0f} kB, Uss {per['Uss']:.0f} kB")
    return per


def summarize(title: str, init_pids: List[int]) -> Dict[str, Dict[str, float]]:
    per: Dict[str, Dict[str, List[int]]] = {}
    for pid in init_pids:
        for process, values in monitor_usage(pid).items():
            for field, value in values.items():
                per.setdefault(process, {}).setdefault(field, []).append(value)
    print(f"\n{title}: {len(init_pids)} containers, medians, kB")
    print(f"{'process':<16}" + "".join(f"{f:>14}" for f in ("Pss", "Uss", "Private_Dirty", "Rss")))
    medians: Dict[str, Dict[str, float]] = {}
    for process, fields in per.items():
        medians[process] = {field: statistics.median(values) for field, values in fields.items()}
        print(f"{process:<16}" + "".join(f"{medians[process][f]:>14.0f}"
                                          for f in ("Pss", "Uss", "Private_Dirty", "Rss")))
    return medians


def measure_ours(engine: it.Engine, image: str, count: int, network: str) -> Dict[str, Dict[str, float]]:
    def start(name: str) -> str:
        return engine.docker("run", "-d", "--network", network, "--name", name, image, "sleep", "600"
                             ).stdout.strip()

    def pid_of(cid: str) -> int:
        return int(engine.docker("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip())
    try:
        before = network_helpers(engine.user.uid)
        pids = start_all(start, pid_of, count)
        medians = summarize(f"ours (--network {network})", pids)
        if network != "none":
            medians["network helpers"] = helpers_per_container(engine.user.uid, before, count)
        return medians
    finally:
        engine.docker("rm", "-f", *(f"membench{index}" for index in range(count)), check=False)


def measure_podman(pm: harness.Podman, image: str, count: int, network: str) -> Dict[str, Dict[str, float]]:
    def start(name: str) -> str:
        return pm.run("run", "-d", "--network", network, "--name", name, image, "sleep", "600").stdout.strip()

    def pid_of(cid: str) -> int:
        return int(pm.run("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip())
    try:
        before = network_helpers(pm.user.uid)
        pids = start_all(start, pid_of, count)
        medians = summarize(f"podman (--network {network})", pids)
        if network != "none":
            medians["network helpers"] = helpers_per_container(pm.user.uid, before, count)
        return medians
    finally:
        pm.run("rm", "-f", "-t", "0", *(f"membench{index}" for index in range(count)), check=False)


def main(argv: Sequence[str]) -> int:
    parser = harness.argument_parser(__doc__, runs=5)
    parser.add_argument("--networks", default="none,default",
                        help="comma-separated: none (the monitor alone), default (bridge: slirp4netns)")
    args = parser.parse_args(argv)
    results: Dict[str, object] = {}
    with ExitStack() as stack:
        user, images, engine = harness.set_up(stack, args)
        pm = stack.enter_context(harness.podman(user))
        pm.run("pull", "-q", "--tls-verify=false", images.busybox)
        for network in args.networks.split(","):
            ours_net, podman_net = ("none", "none") if network == "none" else ("bridge", "slirp4netns")
            results[f"ours/{network}"] = measure_ours(engine, images.busybox, args.runs, ours_net)
            results[f"podman/{network}"] = measure_podman(pm, images.busybox, args.runs, podman_net)
    harness.dump_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
