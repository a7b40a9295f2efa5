"""bench/issue13.py's table from sample JSON shaped like the four scripts write it (pure)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict

from bench import issue13

REPO = Path(__file__).resolve().parents[3]


def sample() -> Dict[str, Any]:
    """What run_bench, pull_bench, cli_bench and mem_bench write with --json (seconds; kB for memory)."""
    pull_medians = {"ours: docker pull (our socket)": 0.701, "podman pull": 1.114,
                    "floor: download (skopeo)": 0.2, "floor: unpack (tar -xzf)": 0.5}
    return {
        "run": {"samples": {}, "medians": {"rootless run --rm": 0.158, "docker run --rm (our socket)": 0.086,
                                           "podman run --rm": 0.235, "floor (overlay+crun run+umount)": 0.02}},
        "pull": {"big": {"samples": {}, "medians": pull_medians, "cpu": {}, "cpu_medians": {}},
                 "debian": {"samples": {}, "medians": {**pull_medians, "ours: docker pull (our socket)": 0.4,
                                                       "podman pull": 1.0}}},
        "cli": {"medians": {"python3 -c pass": 0.024, "rootless --version": 0.089, "rootless ps": 0.030,
                            "docker ps": 0.023, "venv python -c 'import click'": 0.045,
                            "floor: venv python _json+_socket": 0.015}},
        "mem": {"ours/default": {"monitor": {"Pss": 5120, "Uss": 3600},
                                 "slirp4netns": {"Pss": 500},  # a child of the monitor: in "network helpers" too
                                 "network helpers": {"Pss": 1024.0, "Uss": 300.0}},
                "podman/default": {"monitor": {"Pss": 508}, "network helpers": {"Pss": 1540.0}}},
    }


def test_every_row_of_the_issue_from_the_json() -> None:
    rows = issue13.build_rows(sample(), {})
    assert len(rows) == 7 and all(row.reason == "" for row in rows)
    docker, ours_cli, ps, version, big, debian, memory = rows
    assert (round(docker.ours or 0), round(docker.peer or 0), round(docker.now or 0, 2)) == (86, 235, 0.37)
    assert docker.met is False and ours_cli.met is False
    assert round(ps.now or 0, 2) == 1.30 and ps.met is True
    assert version.kind == "difference" and round(version.now or 0) == 65 and version.met is False
    assert round(big.now or 0, 2) == 0.63 and big.met is False
    assert debian.now == 0.4 and debian.met is True
    # monitor 5120 + helpers 1024 kB (the slirp4netns child not twice) = 6 MiB; podman 2048 kB = 2 MiB
    assert (memory.ours, memory.peer, memory.now, memory.met) == (6.0, 2.0, 3.0, False)


def test_table_text() -> None:
    text = issue13.render(issue13.build_rows(sample(), {}), issue13.build_floors(sample(), {}))
    lines = text.splitlines()
    assert lines[0] == "| case | ours | peer | ratio now | goal | met? |"
    assert "| 86 ms | podman: 235 ms | 0.37x | <= 0.25x | no |" in lines[2]
    assert "| 89 ms | python3 -c pass: 24 ms | +65 ms | <= +25 ms | no |" in lines[5]
    assert "| 6.0 MiB | conmon + slirp4netns: 2.0 MiB | 3.00x | <= 1.00x | no |" in lines[8]
    assert "| overlay mount + `crun run` of `true` + umount | 20 ms |" in text
    assert "| `tar -xzf` of the debian layer | 500 ms |" in text
    assert "| venv `python -c 'import click'` | 45 ms |" in text


def test_a_failed_script_is_not_measured_with_its_reason() -> None:
    data = sample()
    del data["mem"]
    failures = {"mem": "mem_bench.py failed (exit 1): RuntimeError: podman hung"}
    rows = issue13.build_rows(data, failures)
    memory = rows[-1]
    assert (memory.ours, memory.peer, memory.now, memory.met) == (None, None, None, None)
    assert memory.reason == "mem_bench.py failed (exit 1): RuntimeError: podman hung"  # once, not per side
    assert all(row.met is not None for row in rows[:-1])
    text = issue13.render(rows, issue13.build_floors(data, failures))
    assert text.splitlines()[8].endswith(
        "| - | conmon + slirp4netns: - | - | <= 1.00x | not measured: mem_bench.py failed (exit 1): "
        "RuntimeError: podman hung |")


def test_a_missing_key_or_bad_value_is_not_measured() -> None:
    data = sample()
    del data["run"]["medians"]["rootless run --rm"]  # run_bench.py without the run verb
    data["cli"]["medians"]["docker ps"] = "fast"
    del data["mem"]["podman/default"]["network helpers"]
    rows = issue13.build_rows(data, {})
    assert rows[1].reason == "run_bench.py wrote no medians/rootless run --rm" and rows[1].peer == 235
    assert rows[0].met is False  # the row next to it still measured
    assert rows[2].reason == "cli_bench.py: medians/docker ps is not a number"
    assert rows[6].reason == "mem_bench.py wrote no podman/default/monitor and /network helpers"
    floors = dict(issue13.build_floors({}, {"run": "run_bench.py timed out after 1800 s"}))
    assert floors["overlay mount + `crun run` of `true` + umount"].reason == "run_bench.py timed out after 1800 s"
    assert floors["`python3 -c pass`"].reason == "cli_bench.py wrote no JSON"
    assert "not measured: run_bench.py timed out" in issue13.render(rows, list(floors.items()))


def test_load_results_turns_missing_or_broken_json_into_failures(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps(sample()["run"]))
    (tmp_path / "cli.json").write_text("{not json")
    (tmp_path / "pull.log").write_text("pushed big\nTraceback...\nOSError: registry gone\n\n")
    failures = {"mem": "mem_bench.py not run (--only)"}
    results = issue13.load_results(str(tmp_path), failures)
    assert set(results) == {"run"}
    assert failures["cli"] == "cli_bench.py wrote no readable JSON (JSONDecodeError)"
    assert failures["pull"] == "pull_bench.py wrote no readable JSON (FileNotFoundError): OSError: registry gone"
    assert failures["mem"] == "mem_bench.py not run (--only)"
    assert issue13.build_rows(results, failures)[0].met is False


def test_options_and_each_scripts_command_line() -> None:
    quick = issue13.parse_args(["--quick"])
    assert (quick.runs, quick.warmup, quick.pull_runs, quick.mem_containers) == (3, 1, 1, 2)
    full = issue13.parse_args(["--runs", "20"])
    assert (full.runs, full.warmup, full.pull_runs, full.mem_containers) == (20, 3, 3, 5)
    assert issue13.script_argv("pull", full, "/x.json") == [
        "--user", "rootless-test", "--json", "/x.json", "--runs", "3", "--images", "big,debian"]
    assert issue13.script_argv("mem", quick, "/m.json")[-4:] == ["--runs", "2", "--networks", "default"]


def test_spawn_from_root_reaches_the_scripts_that_time_short_commands() -> None:
    """--spawn-from-root goes to run_bench.py and cli_bench.py only: the others don't take it."""
    old = issue13.parse_args(["--spawn-from-root"])
    assert issue13.script_argv("run", old, "/r.json")[-1] == "--spawn-from-root"
    assert issue13.script_argv("cli", old, "/c.json")[-1] == "--spawn-from-root"
    assert "--spawn-from-root" not in issue13.script_argv("pull", old, "/p.json") + issue13.script_argv(
        "mem", old, "/m.json")
    new = issue13.parse_args([])
    assert "--spawn-from-root" not in issue13.script_argv("run", new, "/r.json") + issue13.script_argv(
        "cli", new, "/c.json")


def test_the_keys_read_are_written_by_the_scripts() -> None:
    """Each JSON key the table reads appears in its script's source: a renamed row fails here, not silently."""
    keys = [(spec.ours[0], spec.ours[1][-1]) for spec in issue13.ROW_SPECS]
    keys += [(spec.peer[0], spec.peer[1][-1]) for spec in issue13.ROW_SPECS]
    keys += [(script, path[-1]) for _, script, path in issue13.FLOOR_SPECS]
    keys += [("mem", "network helpers"), ("mem", "monitor"), ("mem", "Pss"), ("pull", "big,debian")]
    for script, key in keys:
        source = (REPO / "bench" / issue13.SCRIPTS[script]).read_text()
        if key in ("ours/default", "podman/default"):
            key = key.split("/")[0] + "/{network}"
        assert key in source, (script, key)
    assert os.path.basename(issue13.HERE) == "bench"


def test_a_floor_without_samples_says_so() -> None:
    """pull_bench.py leaves a method with no samples out of its medians (skopeo not installed)."""
    data = sample()
    del data["pull"]["big"]["medians"]["floor: download (skopeo)"]
    data["pull"]["big"]["samples"] = {"floor: download (skopeo)": [], "podman pull": [1.1]}
    floors = dict(issue13.build_floors(data, {}))
    assert floors["download of `big` (skopeo)"].reason == "pull_bench.py took no samples of floor: download (skopeo)"
    assert floors["download of debian (skopeo)"].number == 200.0
