"""CLI start-up: `rootless` against `python3 -c pass` and the docker CLI on the same socket.

Start as root; everything runs as the unprivileged --user against one running
engine. The --source tree is copied and compiled (`compileall`, as an install
does) and run through bin/rootless as pip installs it from pyproject's
script-files (for an older tree, the script pip writes for its entry point:
its `import re` costs ~4.5 ms), so the numbers are those of an installed `rootless`.
Prints medians (and p90) of --runs round-robin runs and the ratios of the issue
13 goals. See bench/README.md.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from contextlib import ExitStack
from typing import Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import harness  # noqa: E402
from bench.harness import imagebuild, it  # noqa: E402

# What pip writes for a console_scripts entry point (pip/_vendor/distlib/scripts.py SCRIPT_TEMPLATE).
CONSOLE_SCRIPT = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from {module} import {func}
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit({func}())
"""


def pyproject_text(source: str) -> str:
    pyproject = os.path.join(source, "pyproject.toml")
    if not os.path.exists(pyproject):  # a --source that is just a package copy
        pyproject = os.path.join(harness.REPO, "pyproject.toml")
    with open(pyproject) as f:
        return f.read()


def console_script(source: str) -> str:
    """bin/rootless as pip installs it from source's pyproject.toml: the script-files entry with its
    `#!python` line made the interpreter's (pip's fix_script), or else pip's entry-point template."""
    text = pyproject_text(source)
    if re.search(r'^script-files\s*=\s*\[[^]]*"bin/rootless"', text, re.M):
        path = os.path.join(source, "bin", "rootless")
        if not os.path.exists(path):
            path = os.path.join(harness.REPO, "bin", "rootless")
        with open(path) as f:
            first, rest = f.readline(), f.read()
        assert first.startswith("#!python"), first
        return f"#!{harness.VENV_PYTHON}\n{rest}"
    match = re.search(r'^rootless\s*=\s*"([\w.]+):(\w+)"', text, re.M)
    if not match:
        raise SystemExit(f"no rootless script or entry point in {source}'s pyproject.toml")
    return CONSOLE_SCRIPT.format(python=harness.VENV_PYTHON, module=match.group(1), func=match.group(2))


def install(user: it.TestUser, source: str) -> str:
    """A compiled copy of source's package plus bin/rootless, readable by the user; returns its dir."""
    base = harness.user_tmpdir(user, "rootless-bench-cli-")
    shutil.copytree(os.path.join(source, "rootless"), os.path.join(base, "rootless"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    # As root, like setup-host.sh: the user can't write __pycache__ there, so it must be complete.
    subprocess.run([harness.VENV_PYTHON, "-m", "compileall", "-q", os.path.join(base, "rootless")], check=True)
    os.makedirs(os.path.join(base, "bin"))
    with open(os.path.join(base, "bin", "rootless"), "w") as f:
        f.write(console_script(source))
    for dirpath, dirnames, filenames in os.walk(base):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o755 if dirpath.endswith("bin") else 0o644)
    return base


# A method takes one sample: wall and CPU seconds (harness.Timing).
Methods = Dict[str, Callable[[], harness.Timing]]


def interleaved(methods: Methods, runs: int, warmup: int) -> Tuple[Dict[str, List[float]], Dict[str, List[float]]]:
    """Wall and CPU seconds (user+sys of the command and what it waited for) per method.

    Round-robin (A/B/C... per round) so that machine noise hits every method alike.
    CPU time moves much less than wall time when other users load the machine.
    """
    for _ in range(warmup):
        for action in methods.values():
            action()
    wall: Dict[str, List[float]] = {name: [] for name in methods}
    cpu: Dict[str, List[float]] = {name: [] for name in methods}
    for _ in range(runs):
        for name, action in methods.items():
            timing = action()
            wall[name].append(timing.wall)
            cpu[name].append(timing.cpu)
    return wall, cpu


def methods_for(spawn: harness.Spawner, engine: it.Engine, installs: Dict[str, str], image: Optional[str]) -> Methods:
    """installs: label suffix ("" for --source, " [baseline]") -> dir made by install()."""

    def run(argv: List[str], env: Optional[Dict[str, str]] = None, check: bool = True) -> Callable[[], harness.Timing]:
        return lambda: spawn.timed(argv, env, check)

    def ours(base: str, *args: str, check: bool = True) -> Callable[[], harness.Timing]:
        return run([os.path.join(base, "bin", "rootless"), *args], {**engine.env, "PYTHONPATH": base}, check)

    def docker(*args: str) -> Callable[[], harness.Timing]:
        return run([it.DOCKER, *args], engine.env)  # the argv and env Engine.docker gives

    methods: Methods = {
        "python3 -c pass": run(["/usr/bin/python3", "-c", "pass"]),
        # The floor of any click CLI here: the interpreter plus `import click` (and typing).
        "venv python -c 'import click'": run([harness.VENV_PYTHON, "-c", "import click"]),
        # The floor of the fast path (cli/fast.py): a JSON reply needs json's C scanner (_json;
        # util/jsonlite.py skips the json package), a UNIX socket _socket. (Before bin/rootless,
        # pip's console script imported re as well: ~4.5 ms more.)
        "floor: venv python _json+_socket": run([harness.VENV_PYTHON, "-c", "import _json, _socket"]),
    }
    for suffix, base in installs.items():
        # check=False: before the option existed this was click's usage error (exit 2), same imports.
        methods["rootless --version" + suffix] = ours(base, "--version", check=False)
    for verb in ("ps", "images"):
        for suffix, base in installs.items():
            methods[f"rootless {verb}{suffix}"] = ours(base, verb)
        methods[f"docker {verb}"] = docker(verb)
    if image:
        for suffix, base in installs.items():
            methods["rootless run --rm" + suffix] = ours(base, "run", "--rm", image, "true")
        methods["docker run --rm"] = docker("run", "--rm", image, "true")
    return methods


RATIOS = [("rootless ps", "docker ps", "goal <= 1.5x"), ("rootless images", "docker images", ""),
          ("rootless run --rm", "docker run --rm", "")]


def report(samples: Dict[str, List[float]], title: str) -> Dict[str, float]:
    rows = [(name, values, "") for name, values in samples.items()]
    medians = harness.print_table(title, rows)
    print()
    python = medians.get("python3 -c pass")
    for suffix in ("", " [baseline]"):
        version = medians.get("rootless --version" + suffix)
        if version and python:
            print(f"{'rootless --version' + suffix + ' - python3 -c pass':<50} {(version - python) * 1000:+7.1f} ms"
                  "   goal <= +25 ms")
        for ours, theirs, goal in RATIOS:
            if ours + suffix in medians:
                print(f"{ours + suffix + ' / ' + theirs:<50} "
                      f"{harness.ratio(medians[ours + suffix], medians.get(theirs)):>8}   {goal}")
        if "rootless run --rm" + suffix in medians:
            extra = medians["rootless run --rm" + suffix] - medians["docker run --rm"]
            print(f"{'CLI side of run' + suffix + ': ours - docker':<50} {extra * 1000:+7.1f} ms")
    return medians


def main(argv: Sequence[str]) -> int:
    parser = harness.argument_parser(__doc__, runs=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-run", action="store_true", help="skip `run --rm` (no registry, no image)")
    parser.add_argument("--baseline", help="a second tree whose CLI is timed alongside (A/B in one run; "
                                           "the daemon runs --source's code)")
    harness.add_spawn_option(parser)
    args = parser.parse_args(argv)
    user = harness.bench_user(args.user, args.source)
    with ExitStack() as stack:
        base = install(user, args.source)
        stack.callback(harness.remove_tree, base)
        installs = {"": base}
        if args.baseline:
            installs[" [baseline]"] = install(user, args.baseline)
            stack.callback(harness.remove_tree, installs[" [baseline]"])
        user.base_env["PYTHONPATH"] = base  # the daemon runs the same compiled copy
        image = None
        if not args.no_run:
            reg = stack.enter_context(harness.registry())
            image = imagebuild.build_and_push(reg.client).busybox
        engine = stack.enter_context(harness.engine(user))
        if image:
            engine.docker("pull", "-q", image)
        spawn = harness.spawner(stack, user, args.spawn_from_root)
        wall, cpu = interleaved(methods_for(spawn, engine, installs, image), args.runs, args.warmup)
        medians = report(wall, "CLI start-up, wall clock (as the user, against a running engine)")
        cpu_medians = report(cpu, "CPU time, user+sys (docker's Go runtime uses several threads)")
        print(f"\nsamples taken {harness.spawn_method(args.spawn_from_root)}")
        harness.dump_json(args.json, {"samples": wall, "medians": medians, "cpu_samples": cpu,
                                      "cpu_medians": cpu_medians, "spawn": harness.spawn_method(args.spawn_from_root)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
