"""A 6-step build (FROM busybox, COPY, RUN, ENV, WORKDIR, CMD), cold and fully cached.

Ours through the docker CLI on our socket (classic builder) and through `rootless build`,
podman build (native overlay storage, as ours) in the same run when podman is installed,
each method in turn per round; medians and ours/podman ratios. Start as root; everything
runs as the unprivileged --user. "cold" means no build cache (--no-cache), the base image
pulled.
"""
from __future__ import annotations

import os
import shutil
import sys
from contextlib import ExitStack
from typing import Callable, Dict, List, Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import harness  # noqa: E402
from bench.harness import it  # noqa: E402

DOCKERFILE = """\
FROM {base}
COPY app.txt /app/app.txt
RUN cat /app/app.txt > /app/copy.txt
ENV MODE=bench
WORKDIR /app
CMD ["cat", "/app/copy.txt"]
"""


def make_context(user: it.TestUser, base: str) -> str:
    directory = harness.user_tmpdir(user, "rootless-bench-build-")
    for name, text in (("Dockerfile", DOCKERFILE.format(base=base)), ("app.txt", "bench\n" * 1000)):
        path = os.path.join(directory, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
    return directory


def methods_for(engine: it.Engine, pm: "harness.Podman | None", context: str) -> Dict[str, Callable[[], object]]:
    classic = {"DOCKER_BUILDKIT": "0"}
    out: Dict[str, Callable[[], object]] = {
        "docker build cold (our socket)": lambda: engine.docker("build", "-q", "--no-cache", "-t", "b:1", context,
                                                                env=classic),
        "docker build cached (our socket)": lambda: engine.docker("build", "-q", "-t", "b:1", context, env=classic),
        "rootless build cold": lambda: engine.cli("build", "-q", "--no-cache", "-t", "b:2", context),
        "rootless build cached": lambda: engine.cli("build", "-q", "-t", "b:2", context),
    }
    if pm is not None:
        out["podman build cold"] = lambda: pm.run("build", "-q", "--no-cache", "--tls-verify=false", "-t", "b:1",
                                                  context)
        out["podman build cached"] = lambda: pm.run("build", "-q", "--tls-verify=false", "-t", "b:1", context)
    return out


def print_ratios(medians: Dict[str, float]) -> None:
    """Ours over podman's median, per client and kind (the goal: 0.5x or less in both kinds)."""
    for kind in ("cold", "cached"):
        podman = medians.get(f"podman build {kind}")
        for ours in (f"docker build {kind} (our socket)", f"rootless build {kind}"):
            print(f"{ours:<34} vs podman build {kind:<6} {harness.ratio(medians.get(ours), podman)}")


def main(argv: Sequence[str]) -> int:
    parser = harness.argument_parser(__doc__, runs=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--podman-storage-driver", default=harness.PODMAN_STORAGE_DRIVER,
                        help="podman's graph driver (its own default here is vfs, which copies every layer)")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        user, images, engine = harness.set_up(stack, args)
        pm = None
        if shutil.which("podman"):
            pm = stack.enter_context(harness.podman(user, args.podman_storage_driver))
            pm.run("pull", "-q", "--tls-verify=false", images.busybox)
        context = make_context(user, images.busybox)
        stack.callback(harness.remove_tree, context)
        methods = methods_for(engine, pm, context)
        for _ in range(args.warmup):
            for action in methods.values():
                action()
        samples: Dict[str, List[float]] = {name: [] for name in methods}
        for _ in range(args.runs):
            for name, action in methods.items():
                samples[name].append(harness.timed(action))
        rows = [(name, values, "") for name, values in samples.items()]
        if pm is None:
            rows.append(("podman build", None, "podman is not installed: not measured"))
        medians = harness.print_table("6-step build", rows)
        print_ratios(medians)
        harness.dump_json(args.json, {"samples": samples, "medians": medians})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
