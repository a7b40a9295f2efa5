"""A --rm container's rootfs (durable=False) under kernel overlay, run INSIDE the engine's namespace.

usage: python overlay_volatile_script.py SCRATCH_DIR   (rootless on PYTHONPATH)

Prints one JSON object for test_overlay_volatile.py: the mount options of a
volatile and a durable rootfs, and what a second mount of the volatile one
(after its unmount left work/work/incompat/volatile) did.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any, Dict

from rootless.config.paths import Paths
from rootless.runtime import storage
from rootless.runtime.storage import get_driver

RM, KEPT = "r" * 64, "k" * 64


def super_options(merged: str) -> str:
    """The mount's super options (mountinfo's last field) for the mount at merged."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split(" ")
            if fields[4] == merged:
                return fields[-1].strip()
    return ""


def run(scratch: str) -> Dict[str, Any]:
    paths = Paths(root=os.path.join(scratch, "store"), run=os.path.join(scratch, "run"))
    lower = os.path.join(scratch, "lower")
    os.makedirs(lower)
    with open(os.path.join(lower, "file"), "w") as f:
        f.write("lower\n")
    driver = get_driver(storage.OVERLAY, paths)
    driver.create(RM, [lower], durable=False)
    driver.create(KEPT, [lower])
    out: Dict[str, Any] = {}
    merged = driver.mount(RM)
    out["rm_options"] = super_options(merged)
    out["kept_options"] = super_options(driver.mount(KEPT))
    out["empty_dir_made"] = os.path.exists(os.path.join(paths.container_dir(RM), "rootfs", "empty"))
    scratch_id = "s" * 64
    driver.create(scratch_id, [], durable=False)  # FROM scratch: no lowers, overlay needs one
    out["scratch_tree"] = os.listdir(driver.mount(scratch_id))
    driver.remove(scratch_id)
    with open(os.path.join(merged, "written"), "w") as f:
        f.write("upper\n")
    driver.unmount(RM)
    out["mark_left"] = os.path.isdir(os.path.join(paths.container_dir(RM), "rootfs", "work", "work", "incompat"))
    try:
        again = driver.mount(RM)
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
        out["remount_error"] = str(exc)
    else:
        out["remount_options"] = super_options(again)
        with open(os.path.join(again, "written")) as f:
            out["written_after_remount"] = f.read()
    for cid in (RM, KEPT):
        driver.remove(cid)
    return out


def main() -> None:
    scratch = sys.argv[1]
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    try:
        works = storage.overlay_works(scratch)
        print(json.dumps(run(scratch) if works else {"skip": "kernel overlay refused in the user namespace"}))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
