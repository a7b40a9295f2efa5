"""The floor of `run --rm IMG true`: overlay mount + `crun run` + umount, nothing else.

Run as root of a user namespace with its own mount namespace (run_bench.py
starts it under `unshare -U -r -m` as the bench user). Prints one JSON list of
seconds per iteration. The shape is the one HOST-NOTES measured: /sys/fs/cgroup
masked by a tmpfs, crun with --cgroup-manager=disabled, a config without cgroup
mount or resources (crun 1.8.1 aborts on the hybrid host otherwise).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

from rootless.util import linux

MS_NOSUID, MS_NODEV = 0x2, 0x4


def write_bundle_config(bundle: str, rootfs: str) -> None:
    """crun's default spec, trimmed to what this host allows for a root-in-userns."""
    subprocess.run(["crun", "spec"], cwd=bundle, check=True)  # writes bundle/config.json
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        config: Dict[str, Any] = json.load(f)
    config["root"] = {"path": rootfs, "readonly": False}
    config["process"]["terminal"] = False
    config["process"]["args"] = ["true"]
    config["linux"].pop("resources", None)
    mounts = [m for m in config["mounts"] if m["type"] != "cgroup"]
    for mount in mounts:  # a one-id map has no gid 5 (tty) for devpts
        mount["options"] = [o for o in mount.get("options", []) if o != "gid=5"]
    config["mounts"] = mounts
    with open(path, "w") as f:
        json.dump(config, f)


def prepare(work: str, layer: str) -> str:
    """lower/ from the layer tar, empty upper/ work/ merged/, and a bundle using merged/."""
    for name in ("lower", "upper", "work", "merged", "bundle", "state"):
        os.mkdir(os.path.join(work, name))
    subprocess.run(["tar", "--no-same-owner", "-xf", layer, "-C", os.path.join(work, "lower")], check=True)
    bundle = os.path.join(work, "bundle")
    write_bundle_config(bundle, os.path.join(work, "merged"))
    return bundle


def one_run(work: str, bundle: str, name: str) -> float:
    """Mount the overlay, run the container to completion, unmount; seconds taken."""
    data = (f"lowerdir={work}/lower,upperdir={work}/upper,workdir={work}/work,userxattr")
    merged = os.path.join(work, "merged")
    start = time.perf_counter()
    linux.mount("overlay", merged, "overlay", MS_NOSUID | MS_NODEV, data)
    try:
        subprocess.run(["crun", "--cgroup-manager=disabled", "--root", os.path.join(work, "state"),
                        "run", "--bundle", bundle, name], check=True, stdin=subprocess.DEVNULL)
    finally:
        linux.umount(merged)
    return time.perf_counter() - start


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("layer", help="uncompressed busybox layer tar")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    linux.mount("tmpfs", "/sys/fs/cgroup", "tmpfs", 0, None)
    with tempfile.TemporaryDirectory(prefix="floor-") as work:
        bundle = prepare(work, args.layer)
        samples = [one_run(work, bundle, f"floor{i}") for i in range(args.warmup + args.runs)]
    print(json.dumps(samples[args.warmup:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
