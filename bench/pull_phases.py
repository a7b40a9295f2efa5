"""Where a cold pull's time goes: one engine, one image, the daemon's phase log lines.

For each run: a fresh engine, `sync`, optionally a pause (--settle: ext4
without a journal skips inodes freed in the last ~30 s when it allocates new
ones, see bench/README.md), then a timed `docker pull`. Prints the wall time,
the kernel's Dirty/Writeback before and after, and the daemon's log lines for
the fetch (download, commit) and the unpack. --strace adds `strace -c -f` of
the daemon during the pull.

--apply TREE[,TREE...] times the unpack alone instead: `layer_tar.apply_layer`
of the image's gzip blob with each tree's package in turn (A/B in the same
rounds), as root into scratch dirs removed only at the end, and prints wall
time and the CPU (user/sys) of the applier thread and of the rest (the reader
thread: inflate and sha256). Add --profile to print cProfile's top entries.
"""
from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
import tempfile
from typing import Any, Dict, List, Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import harness, pull_bench  # noqa: E402

PHASE_RE = re.compile(r"(fetched blob|committed|unpacked layer|streamed layer).*")


def meminfo() -> Dict[str, int]:
    with open("/proc/meminfo") as f:
        rows = (line.split() for line in f)
        return {row[0].rstrip(":"): int(row[1]) for row in rows if row[0] in ("Dirty:", "Writeback:")}


def daemon_pid(run_dir: str) -> int:
    with open(os.path.join(run_dir, "rootlessd.pid")) as f:
        return int(json.load(f)["pid"])


def one_pull(user: harness.it.TestUser, ref: str, settle: float, strace: bool) -> None:
    with harness.engine(user) as eng:
        os.sync()
        time.sleep(settle)
        before = meminfo()
        tracer = None
        if strace:
            out = f"/tmp/pull-phases-strace-{os.getpid()}.txt"
            tracer = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(daemon_pid(eng.run_dir))])
            time.sleep(0.5)
        seconds = harness.timed(lambda: eng.docker("pull", "-q", ref, timeout=900))
        after = meminfo()
        if tracer is not None:
            tracer.terminate()
            tracer.wait()
            with open(out) as f:
                print("".join(f.readlines()[:14]))
            os.unlink(out)
        print(f"pull {seconds:.2f}s  dirty/writeback kB before {before} after {after}")
        for line in eng.log().splitlines():
            match = PHASE_RE.search(line)
            if match:
                print("   ", match.group(0))


# Run by each tree's Python: apply_layer with per-thread CPU (RUSAGE_THREAD is the applier).
APPLY_SNIPPET = """
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
from rootless.images.layer_tar import apply_layer
profile = None
if sys.argv[4]:
    import cProfile
    profile = cProfile.Profile()
os.sync()
thread0, self0, wall0 = resource.getrusage(resource.RUSAGE_THREAD), resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
with open(sys.argv[2], "rb", buffering=1 << 20) as raw:
    if profile: profile.enable()
    apply_layer(raw, sys.argv[3], "bench")
    if profile: profile.disable()
wall, thread1, self1 = time.monotonic() - wall0, resource.getrusage(resource.RUSAGE_THREAD), resource.getrusage(resource.RUSAGE_SELF)
if profile:
    import pstats
    pstats.Stats(profile, stream=sys.stderr).sort_stats(sys.argv[4]).print_stats(25)
applier = (thread1.ru_utime - thread0.ru_utime, thread1.ru_stime - thread0.ru_stime)
process = (self1.ru_utime - self0.ru_utime, self1.ru_stime - self0.ru_stime)
print(json.dumps({"wall": wall, "applier": applier, "reader": [p - a for p, a in zip(process, applier)]}))
"""


def apply_runs(trees: List[str], blob: bytes, runs: int, profile: str) -> None:
    """apply_layer of blob with each tree, round-robin; medians of wall and per-thread CPU."""
    scratch = tempfile.mkdtemp(prefix="pull-phases-apply-", dir=os.environ.get(harness.WORK_DIR_ENV, "/var/tmp"))
    blob_path = os.path.join(scratch, "layer.tar.gz")
    with open(blob_path, "wb") as f:
        f.write(blob)
    samples: Dict[str, List[Dict[str, Any]]] = {tree: [] for tree in trees}
    try:
        for run in range(runs):
            for tree in trees:
                out = subprocess.run([sys.executable, "-c", APPLY_SNIPPET, tree, blob_path,
                                      tempfile.mkdtemp(dir=scratch), profile],
                                     check=True, stdout=subprocess.PIPE, text=True).stdout
                samples[tree].append(json.loads(out))
                print(f"  run {run + 1}/{runs} {tree}: {out.strip()}", flush=True)
    finally:
        harness.remove_tree(scratch)
    print("\nmedians (ms): wall; CPU user/sys of the applier thread and of the reader thread")
    for tree, rows in samples.items():
        wall = statistics.median(row["wall"] for row in rows)
        cpu = [statistics.median(row[what][index] for row in rows) for what in ("applier", "reader") for index in (0, 1)]
        print(f"{tree:<40} wall {wall * 1000:5.0f}  applier {cpu[0] * 1000:4.0f}/{cpu[1] * 1000:4.0f}"
              f"  reader {cpu[2] * 1000:4.0f}/{cpu[3] * 1000:4.0f}")


def main(argv: Sequence[str]) -> int:
    parser = harness.argument_parser(__doc__, runs=3)
    parser.add_argument("--settle", type=float, default=0.0, help="seconds to wait after sync")
    parser.add_argument("--strace", action="store_true")
    parser.add_argument("--image", default="debian", choices=("big", "debian", "host"))
    parser.add_argument("--apply", help="comma-separated source trees: time apply_layer alone, A/B")
    parser.add_argument("--profile", default="", help="with --apply: cProfile sort key (tottime, cumtime)")
    args = parser.parse_args(argv)
    if args.apply:
        layers = pull_bench.image_layers(args.image)
        if len(layers) != 1:
            parser.error("--apply takes a one-layer image (debian or host)")
        apply_runs(args.apply.split(","), layers[0].blob, args.runs, args.profile)
        return 0
    user = harness.bench_user(args.user, args.source)
    with harness.bytecode_cache(user, not args.no_bytecode_cache), harness.registry() as reg:
        ref, _size, _blobs = pull_bench.push_images(reg.client, [args.image])[args.image]
        with harness.deferred_removals():
            for _run in range(args.runs):
                one_pull(user, ref, args.settle, args.strace)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
