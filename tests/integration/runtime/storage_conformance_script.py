"""Storage driver conformance, run INSIDE the engine's namespace (as its root).

usage: python storage_conformance_script.py DRIVER SCRATCH_DIR
(with the rootless package on PYTHONPATH)

Builds two small lower layers (a file, a dir, a whiteout over a lower file,
an opaque dir), then walks a driver through create / mount / write /
unmount / remount / remove and prints one JSON object of observations that
test_storage_conformance.py asserts on. Modelled on containerd's
core/snapshots/testsuite: the same checks for every driver.
"""
from __future__ import annotations

import io
import json
import os
import tarfile
import shutil
import sys
from typing import Any, Dict, List

from rootless.config.paths import Paths
from rootless.runtime import storage
from rootless.runtime.storage import changes, get_driver, whiteouts
from rootless.runtime.storage.driver import is_mount_point

CID = "c" * 64


def write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def build_layers(scratch: str) -> List[str]:
    """l1: file, gone, d/x, keep/k, owned (uid 1000); l2: whiteout gone, opaque d with y."""
    l1 = os.path.join(scratch, "layers", "l1", "diff")
    l2 = os.path.join(scratch, "layers", "l2", "diff")
    write(os.path.join(l1, "file"), "f1\n")
    write(os.path.join(l1, "gone"), "gone\n")
    write(os.path.join(l1, "d", "x"), "x\n")
    write(os.path.join(l1, "keep", "k"), "k\n")
    write(os.path.join(l1, "owned"), "o\n")
    os.chown(os.path.join(l1, "owned"), 1000, 1000)
    os.symlink("file", os.path.join(l1, "link"))
    write(os.path.join(l2, "d", "y"), "y\n")
    whiteouts.make_whiteout(os.path.join(l2, "gone"))
    whiteouts.mark_opaque(os.path.join(l2, "d"))
    return [l1, l2]


def tree(root: str) -> List[str]:
    """Sorted relative paths; 'name (whiteout)' for 0/0 devices."""
    found = []
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if whiteouts.is_whiteout(os.lstat(path)):
                rel += " (whiteout)"
            if not whiteouts.is_internal_name(name):
                found.append(rel)
    return sorted(found)


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def check_view(merged: str) -> Dict[str, Any]:
    owned = os.lstat(os.path.join(merged, "owned"))
    return {
        "tree": tree(merged),
        "file": read(os.path.join(merged, "file")),
        "link": os.readlink(os.path.join(merged, "link")),
        "owned": [owned.st_uid, owned.st_gid],
    }


def change(merged: str) -> None:
    """A new file, a deleted lower file, a modified lower file, a new dir."""
    write(os.path.join(merged, "new"), "new\n")
    os.unlink(os.path.join(merged, "file"))
    write(os.path.join(merged, "keep", "k"), "k2\n")
    write(os.path.join(merged, "newdir", "n"), "n\n")


def upper_facts(upper: str, lowers: List[str]) -> Dict[str, Any]:
    file_info = os.lstat(os.path.join(upper, "file"))
    with tarfile.open(fileobj=io.BytesIO(changes.layer_tar_bytes(upper))) as tar:
        tar_names = sorted(tar.getnames())
    return {
        "upper_tree": tree(upper),
        "upper_file_is_whiteout": whiteouts.is_whiteout(file_info),
        "upper_k": read(os.path.join(upper, "keep", "k")),
        "layer_tar": tar_names,
        "diff": {c["Path"]: c["Kind"] for c in changes.list_changes(upper, lowers)},
    }


def many_layers(driver: Any, scratch: str, count: int = 60) -> Dict[str, Any]:
    """Long lower paths: more than one page of lowerdir= for kernel overlay."""
    lowers = []
    for i in range(count):
        layer = os.path.join(scratch, "layers", "long-" + "x" * 80 + f"-{i:03d}", "diff")
        write(os.path.join(layer, f"f{i:03d}"), str(i))
        lowers.append(layer)
    cid = "e" * 64
    driver.create(cid, lowers)
    merged = driver.mount(cid)
    names = sorted(n for n in os.listdir(merged) if n.startswith("f"))
    driver.remove(cid)
    return {"many_count": len(names), "many_total_path_len": sum(len(p) + 1 for p in lowers)}


def run(driver_name: str, scratch: str) -> Dict[str, Any]:
    paths = Paths(root=os.path.join(scratch, "store"), run=os.path.join(scratch, "run"))
    lowers = build_layers(scratch)
    driver = get_driver(driver_name, paths)
    out: Dict[str, Any] = {"name": driver.name}
    driver.create(CID, lowers)
    driver.create(CID, lowers)  # idempotent
    out["mounted_before"] = driver.is_mounted(CID)
    merged = driver.mount(CID)
    out["merged_path"] = merged
    out["mount_again_same"] = driver.mount(CID) == merged
    out["is_mounted"] = driver.is_mounted(CID)
    out["view"] = check_view(merged)
    change(merged)
    out.update(upper_facts(driver.upper_dir(CID), lowers))
    out["lower_file_intact"] = read(os.path.join(lowers[0], "file"))
    restarted = get_driver(driver_name, paths)  # a new daemon finds the existing mount
    out["restart_is_mounted"] = restarted.is_mounted(CID)
    driver.unmount(CID)
    driver.unmount(CID)  # idempotent
    out["is_mounted_after_unmount"] = driver.is_mounted(CID)
    out["kernel_mount_after_unmount"] = is_mount_point(merged)
    out["view_after_remount"] = tree(driver.mount(CID))
    out.update(many_layers(driver, scratch))
    driver.remove(CID)
    driver.remove(CID)  # idempotent
    out["container_dir_left"] = os.path.exists(os.path.join(paths.container_dir(CID), "rootfs"))
    return out


def unsupported(driver_name: str, scratch: str) -> str:
    """Why this host cannot run the driver, or "" when it can."""
    if driver_name == storage.OVERLAY and not storage.overlay_works(scratch):
        return "kernel overlay mount refused in the user namespace"
    if driver_name == storage.FUSE_OVERLAYFS and not storage.fuse_overlayfs_usable():
        return "fuse-overlayfs missing or /dev/fuse not accessible"
    return ""


def main() -> None:
    driver_name, scratch = sys.argv[1], sys.argv[2]
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    try:
        reason = unsupported(driver_name, scratch)
        result = {"skip": reason} if reason else run(driver_name, scratch)
        print(json.dumps(result, sort_keys=True))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
