"""A Debian bookworm rootfs tarball with extra packages, built once and cached (issue 15's MPI test).

debootstrap --variant=minbase from the host's apt mirror (the only network a CI host has),
then a layer tar as bench/pull_bench.py makes it. Cached under /var/cache/rootless-tests, keyed
by the package list: a fresh host pays ~45 s once (openmpi-bin + python3-mpi4py: 250 MB).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from typing import Sequence

CACHE = "/var/cache/rootless-tests"
# device nodes, /proc, /sys and debootstrap's .deb cache are not image content
EXCLUDES = ["dev/*", "proc/*", "sys/*", "var/cache/apt/archives/*.deb", "var/lib/apt/lists/*"]


def rootfs_tar(packages: Sequence[str]) -> str:
    """The path of a world-readable layer tar of bookworm minbase plus `packages` (root only)."""
    key = hashlib.sha256(",".join(sorted(packages)).encode()).hexdigest()[:16]
    tar = os.path.join(CACHE, f"bookworm-{key}.tar")
    if os.path.exists(tar):
        return tar
    rootfs = os.path.join(CACHE, f"bookworm-{key}.partial")
    shutil.rmtree(rootfs, ignore_errors=True)
    os.makedirs(CACHE, exist_ok=True)
    subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", "bookworm", rootfs],
                   check=True, stdout=subprocess.DEVNULL)
    top = sorted(os.listdir(rootfs))
    subprocess.run(["tar", "--numeric-owner", "--xattrs", "--anchored",
                    *(f"--exclude={pattern}" for pattern in EXCLUDES), "-C", rootfs, "-cf", tar + ".partial", *top],
                   check=True)
    os.chmod(tar + ".partial", 0o644)
    os.rename(tar + ".partial", tar)
    shutil.rmtree(rootfs, ignore_errors=True)
    return tar
