"""Where a cold pull's time goes: one engine, one image, the daemon's phase log lines.

For each run: a fresh engine, `sync`, optionally a pause (--settle: ext4
without a journal skips inodes freed in the last ~30 s when it allocates new
ones, see bench/README.md), then a timed `docker pull`. Prints the wall time,
the kernel's Dirty/Writeback before and after, and the daemon's log lines for
the fetch (download, commit) and the unpack. --strace adds `strace -c -f` of
the daemon during the pull.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from typing import Dict, Sequence

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


def main(argv: Sequence[str]) -> int:
    parser = harness.argument_parser(__doc__, runs=3)
    parser.add_argument("--settle", type=float, default=0.0, help="seconds to wait after sync")
    parser.add_argument("--strace", action="store_true")
    parser.add_argument("--image", default="debian", choices=("big", "debian", "host"))
    args = parser.parse_args(argv)
    user = harness.bench_user(args.user, args.source)
    with harness.bytecode_cache(user, not args.no_bytecode_cache), harness.registry() as reg:
        ref, _size, _blobs = pull_bench.push_images(reg.client, [args.image])[args.image]
        with harness.deferred_removals():
            for _run in range(args.runs):
                one_pull(user, ref, args.settle, args.strace)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
