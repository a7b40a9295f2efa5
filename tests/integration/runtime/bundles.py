"""Build minimal busybox OCI bundles for runtime integration tests.

The config is `crun spec --rootless` minus the user namespace and the cgroup
mount/resources: the tests already run inside the engine's user namespace,
and the host's hybrid cgroups are masked there (see HOST-NOTES).
"""
from __future__ import annotations

import json
import os
import shutil
from typing import Dict, List, Optional

BUSYBOX = "/usr/bin/busybox"
APPLETS = ("sh", "echo", "cat", "sleep", "id", "nc", "httpd", "true", "false", "ls", "kill",
           "wget", "ip", "hostname", "stty", "tty", "head", "tr")


def make_rootfs(rootfs: str) -> None:
    """A rootfs with a static busybox and a few applet links."""
    for sub in ("bin", "etc", "proc", "dev", "sys", "tmp", "www"):
        os.makedirs(os.path.join(rootfs, sub), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
    for name in APPLETS:
        link = os.path.join(rootfs, "bin", name)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/:/bin/sh\n")
    with open(os.path.join(rootfs, "etc", "group"), "w") as f:
        f.write("root:x:0:\n")


def _mounts(netns: bool) -> List[Dict[str, object]]:
    sysfs: Dict[str, object] = {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                                "options": ["nosuid", "noexec", "nodev", "ro"]}
    if not netns:
        # sysfs can only be mounted by the owner of the network namespace.
        sysfs = {"destination": "/sys", "type": "bind", "source": "/sys",
                 "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        sysfs,
    ]


def make_config(args: List[str], terminal: bool = False, netns: bool = True,
                env: Optional[List[str]] = None) -> Dict[str, object]:
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]
    namespaces = [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]
    if netns:
        namespaces.append({"type": "network"})
    return {
        "ociVersion": "1.0.0",
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": env or ["PATH=/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted", "ambient")},
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": False},
        "hostname": "testctr",
        "mounts": _mounts(netns),
        "linux": {"namespaces": namespaces, "maskedPaths": ["/proc/kcore"],
                  "readonlyPaths": ["/proc/sys"]},
    }


def make_bundle(bundle: str, args: List[str], terminal: bool = False, netns: bool = True) -> str:
    """Create bundle/rootfs and bundle/config.json; return the bundle path."""
    make_rootfs(os.path.join(bundle, "rootfs"))
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(make_config(args, terminal, netns), f, indent=2)
    return bundle


if __name__ == "__main__":
    import sys

    make_bundle(sys.argv[1], sys.argv[2:] or ["sh"])
