"""Issue 13 in one run: every row of its table, against podman and the docker CLI, with the goals.

Start as root, like the other benchmarks. Runs run_bench.py, pull_bench.py,
cli_bench.py and mem_bench.py one after the other as subprocesses, each with
`--json` into a scratch dir, then reads only those JSON files and prints one
Markdown table: case | ours | peer | ratio now | goal | met?, plus the floors
measured in the same run. A script that fails leaves its rows "not measured"
with the reason; the others still print. `--from DIR` rebuilds the table from
the JSON (and logs) an earlier `--out DIR` kept, without running anything.
See bench/README.md, "Issue 13 in one run".

The table building (build_rows, build_floors, render) is pure and reads only
the JSON keys listed in ROW_SPECS and FLOOR_SPECS, so a change in a script's
JSON shows up as "not measured: ... wrote no ..." instead of a wrong number.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))

# script key -> file name; the JSON of each lands in DIR/<key>.json, its output in DIR/<key>.log
SCRIPTS = {"run": "run_bench.py", "pull": "pull_bench.py", "cli": "cli_bench.py", "mem": "mem_bench.py"}
# mem_bench.py's process names for network helpers (its NETWORK_HELPERS): not counted twice
# when a monitor has one as a child and it is also in "network helpers".
NETWORK_HELPER_NAMES = ("slirp4netns", "pasta", "pasta.avx2")

Path = Tuple[str, ...]


class Value(NamedTuple):
    """A number read from a script's JSON (seconds or kB as the script wrote it), or why there is none."""

    number: Optional[float]
    reason: str = ""


@dataclass(frozen=True)
class RowSpec:
    """One row of the issue's table: where ours and the peer come from, and the goal."""

    case: str
    peer_name: str
    ours: Tuple[str, Path]  # (script key, JSON path)
    peer: Tuple[str, Path]
    kind: str  # "ratio": ours/peer <= goal; "difference": ours - peer <= goal (ms)
    goal: float
    unit: str = "ms"  # "ms": JSON seconds; "MiB": JSON kB (mem: summed by memory_pss)


RUN_MEDIANS = ("medians",)
ROW_SPECS = (
    RowSpec("`docker run --rm busybox true` on our socket vs `podman run --rm busybox true`", "podman",
            ("run", RUN_MEDIANS + ("docker run --rm (our socket)",)), ("run", RUN_MEDIANS + ("podman run --rm",)),
            "ratio", 0.25),
    RowSpec("`rootless run --rm busybox true` vs `podman run --rm busybox true`", "podman",
            ("run", RUN_MEDIANS + ("rootless run --rm",)), ("run", RUN_MEDIANS + ("podman run --rm",)),
            "ratio", 0.35),
    RowSpec("`rootless ps` vs `docker ps` on the same socket", "docker ps",
            ("cli", ("medians", "rootless ps")), ("cli", ("medians", "docker ps")), "ratio", 1.5),
    RowSpec("`rootless --version` vs `python3 -c pass`", "python3 -c pass",
            ("cli", ("medians", "rootless --version")), ("cli", ("medians", "python3 -c pass")),
            "difference", 0.025),
    RowSpec("cold pull multilayer (`big`: busybox + 4 layers)", "podman",
            ("pull", ("big", "medians", "ours: docker pull (our socket)")), ("pull", ("big", "medians", "podman pull")),
            "ratio", 0.45),
    RowSpec("cold pull debian minbase (1 layer)", "podman",
            ("pull", ("debian", "medians", "ours: docker pull (our socket)")),
            ("pull", ("debian", "medians", "podman pull")), "ratio", 0.45),
    RowSpec("memory per running container (monitor + network helpers, PSS)", "conmon + slirp4netns",
            ("mem", ("ours/default",)), ("mem", ("podman/default",)), "ratio", 1.0, "MiB"),
)

# (floor, script key, JSON path); values in seconds
FLOOR_SPECS = (
    ("overlay mount + `crun run` of `true` + umount", "run", ("medians", "floor (overlay+crun run+umount)")),
    ("`tar -xzf` of the `big` blobs", "pull", ("big", "medians", "floor: unpack (tar -xzf)")),
    ("`tar -xzf` of the debian layer", "pull", ("debian", "medians", "floor: unpack (tar -xzf)")),
    ("download of `big` (skopeo)", "pull", ("big", "medians", "floor: download (skopeo)")),
    ("download of debian (skopeo)", "pull", ("debian", "medians", "floor: download (skopeo)")),
    ("`python3 -c pass`", "cli", ("medians", "python3 -c pass")),
    ("venv `python -c 'import click'`", "cli", ("medians", "venv python -c 'import click'")),
    ("venv `python -c 'import _json, _socket'` (the fast path's floor)", "cli",
     ("medians", "floor: venv python _json+_socket")),
)


@dataclass(frozen=True)
class Row:
    """A built row: numbers in the row's unit (ms or MiB), or the reason it was not measured."""

    case: str
    peer_name: str
    ours: Optional[float]
    peer: Optional[float]
    kind: str
    goal: float
    unit: str
    now: Optional[float]  # the ratio, or the difference in the unit
    met: Optional[bool]
    reason: str


def lookup(results: Mapping[str, Any], failures: Mapping[str, str], script: str, path: Path) -> Value:
    """results[script][path...] as a number, or the reason it is missing (the script failed, or no such key)."""
    if script in failures:
        return Value(None, failures[script])
    node: Any = results.get(script)
    if node is None:
        return Value(None, f"{SCRIPTS[script]} wrote no JSON")
    parent: Any = None
    for depth, key in enumerate(path):
        if not isinstance(node, Mapping) or key not in node:
            return Value(None, missing_reason(parent, script, path, depth))
        parent, node = node, node[key]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        return Value(None, f"{SCRIPTS[script]}: {'/'.join(path)} is not a number")
    return Value(float(node))


def missing_reason(parent: Any, script: str, path: Path, depth: int) -> str:
    """Why path[depth] is missing: a method that took no samples (the scripts leave it out of
    "medians", e.g. pull_bench.py's skopeo floor without skopeo) or a key the script never wrote.

    parent: the object holding path[depth - 1] (the one with "medians" and "samples").
    """
    if depth > 0 and path[depth - 1] == "medians" and isinstance(parent, Mapping):
        samples = parent.get("samples")
        if isinstance(samples, Mapping) and samples.get(path[depth]) == []:
            return f"{SCRIPTS[script]} took no samples of {path[depth]}"
    return f"{SCRIPTS[script]} wrote no {'/'.join(path)}"


def memory_pss(results: Mapping[str, Any], failures: Mapping[str, str], path: Path) -> Value:
    """kB of PSS per container: the monitor, its other children, and the network helpers' share.

    mem_bench.py writes, per "ours/<network>" / "podman/<network>": process name -> field -> median,
    with "monitor" (ours or conmon), any other child of it by name, and "network helpers"
    (per container). A child named like a network helper is left out: "network helpers" has it.
    """
    group = lookup_mapping(results, failures, "mem", path)
    if isinstance(group, Value):
        return group
    if "monitor" not in group or "network helpers" not in group:
        return Value(None, f"mem_bench.py wrote no {'/'.join(path)}/monitor and /network helpers")
    total = 0.0
    for process, fields in group.items():
        if process in NETWORK_HELPER_NAMES:
            continue
        pss = fields.get("Pss") if isinstance(fields, Mapping) else None
        if isinstance(pss, bool) or not isinstance(pss, (int, float)):
            return Value(None, f"mem_bench.py: {'/'.join(path)}/{process}/Pss is not a number")
        total += float(pss)
    return Value(total)


def lookup_mapping(results: Mapping[str, Any], failures: Mapping[str, str], script: str,
                   path: Path) -> Any:
    """results[script][path...] when it is a mapping, else a Value with the reason."""
    if script in failures:
        return Value(None, failures[script])
    node: Any = results.get(script)
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return Value(None, f"{SCRIPTS[script]} wrote no {'/'.join(path)}")
        node = node[key]
    if not isinstance(node, Mapping):
        return Value(None, f"{SCRIPTS[script]}: {'/'.join(path)} is not an object")
    return node


def read_side(results: Mapping[str, Any], failures: Mapping[str, str], spec: RowSpec,
              side: Tuple[str, Path]) -> Value:
    """One side of a row in the row's unit (ms from seconds, MiB from kB)."""
    script, path = side
    if spec.unit == "MiB":
        value = memory_pss(results, failures, path)
        return value if value.number is None else Value(value.number / 1024)
    value = lookup(results, failures, script, path)
    return value if value.number is None else Value(value.number * 1000)


def build_row(results: Mapping[str, Any], failures: Mapping[str, str], spec: RowSpec) -> Row:
    ours = read_side(results, failures, spec, spec.ours)
    peer = read_side(results, failures, spec, spec.peer)
    goal = spec.goal * 1000 if spec.kind == "difference" else spec.goal
    now: Optional[float] = None
    reason = "; ".join(dict.fromkeys(v.reason for v in (ours, peer) if v.reason))  # each reason once
    if ours.number is not None and peer.number is not None:
        if spec.kind == "difference":
            now = ours.number - peer.number
        elif peer.number > 0:
            now = ours.number / peer.number
        else:
            reason = "peer measured as 0"
    return Row(spec.case, spec.peer_name, ours.number, peer.number, spec.kind, goal, spec.unit, now,
               None if now is None else now <= goal, reason)


def build_rows(results: Mapping[str, Any], failures: Mapping[str, str]) -> List[Row]:
    """The issue's rows from the scripts' JSON (results: script key -> parsed JSON; failures: key -> why)."""
    return [build_row(results, failures, spec) for spec in ROW_SPECS]


def build_floors(results: Mapping[str, Any], failures: Mapping[str, str]) -> List[Tuple[str, Value]]:
    """(floor, milliseconds or the reason) for every floor the scripts measured."""
    floors = []
    for name, script, path in FLOOR_SPECS:
        value = lookup(results, failures, script, path)
        floors.append((name, value if value.number is None else Value(value.number * 1000)))
    return floors


def number(value: Optional[float], unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} MiB" if unit == "MiB" else f"{value:.0f} ms"


def goal_text(row: Row) -> str:
    return f"<= +{row.goal:.0f} ms" if row.kind == "difference" else f"<= {row.goal:.2f}x"


def now_text(row: Row) -> str:
    if row.now is None:
        return "-"
    return f"{row.now:+.0f} ms" if row.kind == "difference" else f"{row.now:.2f}x"


def met_text(row: Row) -> str:
    if row.met is None:
        return f"not measured: {row.reason}"
    return "yes" if row.met else "no"


def render(rows: Sequence[Row], floors: Sequence[Tuple[str, Value]]) -> str:
    """The Markdown tables: the issue's rows, then the floors."""
    lines = ["| case | ours | peer | ratio now | goal | met? |", "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.case} | {number(row.ours, row.unit)} | {row.peer_name}: {number(row.peer, row.unit)} "
                     f"| {now_text(row)} | {goal_text(row)} | {met_text(row)} |")
    lines += ["", "| floor, same run | median |", "|---|---|"]
    for name, value in floors:
        shown = number(value.number, "ms") if value.number is not None else f"not measured: {value.reason}"
        lines.append(f"| {name} | {shown} |")
    return "\n".join(lines)


def script_argv(key: str, args: argparse.Namespace, json_path: str) -> List[str]:
    """The command line of one script: its counts from ours, --user, --json."""
    common = ["--user", args.user, "--json", json_path]
    if key in ("run", "cli"):
        spawn = ["--spawn-from-root"] if args.spawn_from_root else []
        return [*common, "--runs", str(args.runs), "--warmup", str(args.warmup), *spawn]
    if key == "pull":
        return [*common, "--runs", str(args.pull_runs), "--images", "big,debian"]
    # the default network: monitor plus slirp4netns, as the row compares
    return [*common, "--runs", str(args.mem_containers), "--networks", "default"]


def last_line(path: str) -> str:
    """The last non-empty line of a log (a traceback's last line names the error)."""
    try:
        with open(path, errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        return ""
    return lines[-1][:200] if lines else ""


def run_script(key: str, args: argparse.Namespace, out_dir: str) -> Optional[str]:
    """Run one script, its output into out_dir/<key>.log; None, or why it failed."""
    json_path, log_path = os.path.join(out_dir, f"{key}.json"), os.path.join(out_dir, f"{key}.log")
    argv = [sys.executable, os.path.join(HERE, SCRIPTS[key]), *script_argv(key, args, json_path)]
    print(f"running {SCRIPTS[key]} ({' '.join(argv[2:])}), output in {log_path}", flush=True)
    start = time.monotonic()
    with open(log_path, "w") as log:
        try:
            code = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, timeout=args.timeout).returncode
        except subprocess.TimeoutExpired:
            return f"{SCRIPTS[key]} timed out after {args.timeout:.0f} s"
    print(f"  {SCRIPTS[key]}: exit {code} after {time.monotonic() - start:.0f} s", flush=True)
    if code != 0:
        return f"{SCRIPTS[key]} failed (exit {code}): {last_line(log_path)}"
    return None


def load_results(out_dir: str, failures: Dict[str, str]) -> Dict[str, Any]:
    """The JSON each script wrote into out_dir; a missing or unreadable one becomes a failure."""
    results: Dict[str, Any] = {}
    for key, script in SCRIPTS.items():
        if key in failures:
            continue
        try:
            with open(os.path.join(out_dir, f"{key}.json")) as f:
                results[key] = json.load(f)
        except (OSError, ValueError) as exc:
            log = last_line(os.path.join(out_dir, f"{key}.log"))
            failures[key] = f"{script} wrote no readable JSON ({exc.__class__.__name__})" + (f": {log}" if log else "")
    return results


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--user", default=os.environ.get("ROOTLESS_TEST_USER", "rootless-test"))
    parser.add_argument("--runs", type=int, help="runs of run_bench.py and cli_bench.py (default 15, --quick 3)")
    parser.add_argument("--warmup", type=int, help="their warm-ups (default 3, --quick 1)")
    parser.add_argument("--pull-runs", type=int, help="cold pulls per image and engine (default 3, --quick 1)")
    parser.add_argument("--mem-containers", type=int, help="containers per engine (default 5, --quick 2)")
    parser.add_argument("--quick", action="store_true", help="fewer runs: a smoke check, not numbers to quote")
    parser.add_argument("--json", help="also write the rows, floors and failures here")
    parser.add_argument("--out", help="keep each script's JSON and log in this dir (default: a temp dir, removed)")
    parser.add_argument("--from", dest="from_dir", help="build the table from an earlier --out dir; run nothing")
    parser.add_argument("--only", default=",".join(SCRIPTS), help="comma-separated scripts: run,pull,cli,mem")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per script")
    parser.add_argument("--spawn-from-root", action="store_true",
                        help="run_bench.py and cli_bench.py time each command from root, as before session 12 "
                             "(~3.7 ms more per sample on both sides of a ratio), not from the user's timer")
    args = parser.parse_args(argv)
    for name, full, quick in (("runs", 15, 3), ("warmup", 3, 1), ("pull_runs", 3, 1), ("mem_containers", 5, 2)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    unknown = set(args.only.split(",")) - set(SCRIPTS)
    if unknown:
        parser.error(f"--only: unknown script(s) {', '.join(sorted(unknown))}; known: {', '.join(SCRIPTS)}")
    return args


def collect(args: argparse.Namespace, out_dir: str) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """Run the chosen scripts one after the other (never together: each times the machine), then read their JSON."""
    failures: Dict[str, str] = {}
    only = args.only.split(",")
    for key in SCRIPTS:
        if args.from_dir is None and key in only:
            reason = run_script(key, args, out_dir)
            if reason:
                failures[key] = reason
        elif key not in only:
            failures[key] = f"{SCRIPTS[key]} not run (--only)"
    return load_results(out_dir, failures), failures


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="rootless-issue13-") as scratch:
        out_dir = args.from_dir or args.out or scratch
        if args.from_dir is None:
            os.makedirs(out_dir, exist_ok=True)
        results, failures = collect(args, out_dir)
    rows, floors = build_rows(results, failures), build_floors(results, failures)
    load_after = os.getloadavg()
    if args.from_dir:
        print(f"\nIssue 13, from the JSON in {args.from_dir}\n")
    else:
        print(f"\nIssue 13 in one run ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average "
              f"before {load_before[0]:.2f}, after {load_after[0]:.2f}; run/cli medians of {args.runs}, "
              f"pulls medians of {args.pull_runs}, memory medians of {args.mem_containers} containers; "
              f"commands {'spawned from root' if args.spawn_from_root else 'timed by the user timer'})\n")
    print(render(rows, floors))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": [asdict(row) for row in rows],
                       "floors": {name: {"ms": value.number, "reason": value.reason} for name, value in floors},
                       "failures": failures, "load": [load_before, load_after]}, f, indent=2)
    # 1 when a script that was to run failed (not for those --only left out)
    return 1 if set(failures) & set(args.only.split(",")) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
