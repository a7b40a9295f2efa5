"""`run --rm busybox true`, end to end: our CLI, docker CLI on our socket, podman, the floor.

Start as root; everything runs as the unprivileged --user. Prints medians and
p90 per method and the ratios ours/podman and ours/floor. See bench/README.md.
"""
from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack
from typing import Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import harness  # noqa: E402
from bench.harness import imagebuild, it  # noqa: E402

FLOOR_HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "floor_run.py")

Rows = List[Tuple[str, Optional[List[float]], str]]


def write_layer(user: it.TestUser, layer: imagebuild.Layer) -> str:
    """The uncompressed busybox layer where the user can read it (for the floor)."""
    directory = harness.user_tmpdir(user, "rootless-bench-layer-")
    path = os.path.join(directory, "layer.tar")
    with open(path, "wb") as f:
        f.write(layer.tar)
    os.chmod(path, 0o644)
    return path


def measure_floor(user: it.TestUser, layer_tar: str, runs: int, warmup: int) -> List[float]:
    argv = ["unshare", "-U", "-r", "-m", harness.VENV_PYTHON, FLOOR_HELPER, layer_tar,
            "--runs", str(runs), "--warmup", str(warmup)]
    out = user.run(argv, timeout=60 + 10 * (runs + warmup)).stdout
    return [float(s) for s in json.loads(out.strip().splitlines()[-1])]


def has_run_verb(engine: it.Engine) -> bool:
    return engine.cli("run", "--help", check=False).returncode == 0


# A method takes one sample and returns its wall seconds.
Methods = Dict[str, Callable[[], float]]


def interleaved(methods: Methods, runs: int, warmup: int,
                quiet: Optional[harness.Quiet] = None) -> Dict[str, List[float]]:
    """Time each method runs times, round-robin so that machine noise hits all alike.

    quiet: before each sample, wait until the previous sample's leftover processes are gone.
    """
    for _ in range(warmup):
        for action in methods.values():
            action()
    if quiet is not None:
        quiet.known = quiet.pids()  # what the warm-up started for good (e.g. a DNS server) is long-lived
    samples: Dict[str, List[float]] = {name: [] for name in methods}
    for _ in range(runs):
        for name, action in methods.items():
            if quiet is not None:
                quiet.wait()
            samples[name].append(action())
    return samples


def rootless_argv(source: str) -> List[str]:
    """The installed `rootless` command: the tree's bin/rootless run by the venv's python (what its
    shebang runs once pip installed it). A tree from before bin/rootless: `python -m rootless.cli`,
    whose runpy costs ~3 ms more than a script (bench/README.md "CLI start-up, session 9")."""
    script = os.path.join(source, "bin", "rootless")
    return [harness.VENV_PYTHON, script] if os.path.exists(script) else [harness.VENV_PYTHON, "-m", "rootless.cli"]


def sample(spawn: harness.Spawner, argv: List[str], env: Dict[str, str]) -> Callable[[], float]:
    """One method: argv run as the user with env (on top of the user's), its wall seconds."""
    return lambda: spawn.timed(argv, env).wall


def rootless_run(spawn: harness.Spawner, engine: it.Engine, source: str, image: str) -> Callable[[], float]:
    return sample(spawn, rootless_argv(source) + ["run", "--rm", image, "true"], engine.env)


def docker_run(spawn: harness.Spawner, engine: it.Engine, image: str) -> Callable[[], float]:
    """`docker run --rm image true` on engine's socket: the argv and env Engine.docker gives."""
    return sample(spawn, [it.DOCKER, "run", "--rm", image, "true"], engine.env)


def engine_methods(spawn: harness.Spawner, engine: it.Engine, pm: harness.Podman, image: str,
                   baseline: Optional[it.Engine] = None, source: str = harness.REPO,
                   baseline_source: str = "") -> Tuple[Methods, Rows]:
    methods: Methods = {}
    missing: Rows = []
    if has_run_verb(engine):
        methods["rootless run --rm"] = rootless_run(spawn, engine, source, image)
    else:
        missing.append(("rootless run --rm", None, "run verb not in the CLI yet: not measured"))
    methods["docker run --rm (our socket)"] = docker_run(spawn, engine, image)
    if baseline is not None:  # A/B in the same rounds: the --baseline tree's daemon and CLI
        methods["baseline: rootless run --rm"] = rootless_run(spawn, baseline, baseline_source, image)
        methods["baseline: docker run --rm"] = docker_run(spawn, baseline, image)
    methods["podman run --rm"] = sample(spawn, pm.argv("run", "--rm", image, "true"), pm.env)
    return methods, missing


def report(samples: Dict[str, List[float]], missing: Rows, floor: List[float]) -> Dict[str, float]:
    notes = {"podman run --rm": f"rootless, {harness.PODMAN_STORAGE_DRIVER} storage, cgroups disabled, /sys/fs/cgroup masked",
             "floor (overlay+crun run+umount)": "unshare -U -r -m; no network"}
    rows: Rows = [(name, values, notes.get(name, "")) for name, values in samples.items()]
    rows += missing + [("floor (overlay+crun run+umount)", floor, notes["floor (overlay+crun run+umount)"])]
    medians = harness.print_table("run --rm busybox true", rows)
    podman = medians.get("podman run --rm")
    floor_median = medians.get("floor (overlay+crun run+umount)")
    print()
    for ours in ("rootless run --rm", "docker run --rm (our socket)", "baseline: rootless run --rm",
                 "baseline: docker run --rm"):
        if ours in medians:
            print(f"{ours:<34} vs podman {harness.ratio(medians[ours], podman):>7}"
                  f"   vs floor {harness.ratio(medians[ours], floor_median):>7}")
    return medians


def main(argv: Sequence[str]) -> int:
    parser = harness.argument_parser(__doc__, runs=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--baseline", help="A/B: also time this tree's daemon and CLI, in the same rounds")
    parser.add_argument("--no-settle", action="store_true",
                        help="don't wait for the previous sample's leftover processes (the pre-session-10 method)")
    harness.add_spawn_option(parser)
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        user, images, engine = harness.set_up(stack, args)
        baseline = None
        if args.baseline:
            other = harness.bench_user(args.user, args.baseline)
            other.base_env.update({k: v for k, v in user.base_env.items() if k != "PYTHONPATH"})
            baseline = stack.enter_context(harness.engine(other))
            baseline.docker("pull", "-q", images.busybox)
        pm = stack.enter_context(harness.podman(user))
        pm.run("pull", "-q", "--tls-verify=false", images.busybox)
        layer_tar = write_layer(user, images.busybox_layer)
        stack.callback(harness.remove_tree, os.path.dirname(layer_tar))
        spawn = harness.spawner(stack, user, args.spawn_from_root)  # a user process: before Quiet counts them
        methods, missing = engine_methods(spawn, engine, pm, images.busybox, baseline, args.source,
                                          args.baseline or "")
        quiet = None if args.no_settle else harness.Quiet(user.uid)
        samples = interleaved(methods, args.runs, args.warmup, quiet)
        if quiet is not None:
            print(f"settling before samples: {quiet.settled_s:.1f} s in all, "
                  f"{quiet.lingering} process(es) outlived the wait")
        floor = measure_floor(user, layer_tar, args.runs, args.warmup)
        medians = report(samples, missing, floor)
        print(f"samples taken {harness.spawn_method(args.spawn_from_root)}")
        harness.dump_json(args.json, {"samples": {**samples, "floor": floor}, "medians": medians,
                                      "spawn": harness.spawn_method(args.spawn_from_root)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
