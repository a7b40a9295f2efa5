"""Run containers from spec.build_spec with crun, INSIDE the engine's namespace (as its root).

usage: python spec_crun_script.py SCRATCH_DIR SCENARIOS_JSON
(with the rootless package on PYTHONPATH)

Builds a busybox rootfs, then for each scenario {name: {SpecOptions fields}}
writes config.json from rootless.runtime.spec and runs
`crun --cgroup-manager=disabled --root STATE run --bundle B name` with stdin
from /dev/null. Prints one JSON object: {name: {rc, stdout, stderr, config}}
plus "outside": facts about the namespace crun ran in.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any, Dict

from rootless.host import cgroups, userns
from rootless.runtime import spec
from rootless.util import proc

BUSYBOX = "/usr/bin/busybox"
APPLETS = ("sh", "id", "cat", "ls", "mount", "hostname", "sleep", "echo", "true", "false", "touch", "grep",
           "readlink", "ps")


def make_rootfs(rootfs: str) -> None:
    for sub in ("bin", "etc", "proc", "dev", "sys", "tmp", "data"):
        os.makedirs(os.path.join(rootfs, sub), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
    for name in APPLETS:
        os.symlink("busybox", os.path.join(rootfs, "bin", name))
    with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n")
    with open(os.path.join(rootfs, "etc", "group"), "w") as f:
        f.write("root:x:0:\ntty:x:5:\napp:x:1000:\nextra:x:2000:app\n")


def current_mapping() -> userns.Mapping:
    with open("/proc/self/uid_map") as uids, open("/proc/self/gid_map") as gids:
        return userns.Mapping(userns.parse_id_map(uids.read()), userns.parse_id_map(gids.read()))


def options_from(raw: Dict[str, Any], rootfs: str, scratch: str) -> spec.SpecOptions:
    raw = dict(raw)
    raw["mounts"] = [spec.Mount(dest, src.replace("@SCRATCH@", scratch), kind, tuple(opts))
                     for dest, src, kind, opts in raw.get("mounts", [])]
    return spec.SpecOptions(rootfs=rootfs, cgroup=cgroups.detect(), **raw)


def run_scenario(name: str, raw: Dict[str, Any], scratch: str, rootfs: str) -> Dict[str, Any]:
    bundle = os.path.join(scratch, "bundles", name)
    os.makedirs(bundle)
    config = spec.build_spec(options_from(raw, rootfs, scratch), current_mapping())
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    argv = ["crun", "--cgroup-manager=disabled", "--root", os.path.join(scratch, "state"), "run",
            "--bundle", bundle, name]
    done = proc.run(argv, check=False, timeout=60)
    return {"rc": done.returncode, "stdout": done.text, "stderr": done.stderr.decode("utf-8", "replace"),
            "config": config}


def main() -> None:
    scratch, scenarios_file = sys.argv[1], sys.argv[2]
    with open(scenarios_file) as f:
        scenarios = json.load(f)
    rootfs = os.path.join(scratch, "rootfs")
    make_rootfs(rootfs)
    os.makedirs(os.path.join(scratch, "data"))
    with open(os.path.join(scratch, "data", "hello"), "w") as f:
        f.write("from the host\n")
    results: Dict[str, Any] = {name: run_scenario(name, raw, scratch, rootfs) for name, raw in scenarios.items()}
    sys_dev = os.stat("/sys").st_dev
    results["outside"] = {"netns": os.readlink("/proc/self/ns/net"),
                          "sys_dev": f"{os.major(sys_dev)}:{os.minor(sys_dev)}"}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
