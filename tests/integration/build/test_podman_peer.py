"""A built image pushed to a registry runs under podman, the project's reference peer.

Podman runs as the test user in a private store (--root/--runroot, vfs) with
private config and runtime dirs, so nothing leaks into the user's own podman.
On this hybrid-cgroup host it needs cgroups disabled and /sys/fs/cgroup masked
in its namespace (bench/README.md "Podman on this hybrid-cgroup host").
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Dict, Iterator

import pytest

from tests.integration.build.test_build import CLASSIC, context, layer_names, write  # noqa: F401 (context: a fixture)

PODMAN = shutil.which("podman")
CONTAINERS_CONF = """\
[containers]
cgroups = "disabled"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "crun"
"""


@dataclass
class Podman:
    user: object
    base: str
    run_dir: str

    @property
    def env(self) -> Dict[str, str]:
        return {"XDG_RUNTIME_DIR": self.run_dir, "XDG_CONFIG_HOME": os.path.join(self.base, "config"),
                "XDG_DATA_HOME": os.path.join(self.base, "data"),
                "CONTAINERS_CONF": os.path.join(self.base, "containers.conf")}

    def run(self, *args: str, check: bool = True) -> "subprocess.CompletedProcess[str]":
        store = ["--root", os.path.join(self.base, "root"), "--runroot", os.path.join(self.run_dir, "runroot"),
                 "--storage-driver", "vfs"]
        result: "subprocess.CompletedProcess[str]" = self.user.run(  # type: ignore[attr-defined]
            [PODMAN or "podman", *store, *args], env=self.env, check=check, timeout=300)
        return result

    def kill_pause(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            with open(os.path.join(self.run_dir, "libpod", "tmp", "pause.pid")) as f:
                os.kill(int(f.read().strip()), signal.SIGKILL)


@pytest.fixture()
def podman(user) -> Iterator[Podman]:  # type: ignore[no-untyped-def]
    if PODMAN is None:
        pytest.skip("podman is not installed (contrib/setup-host.sh --tests installs it)")
    base = tempfile.mkdtemp(prefix="rootless-it-podman-", dir="/tmp")
    run_dir = tempfile.mkdtemp(prefix="rip-", dir="/tmp")  # short: conmon's socket paths are ~108 bytes at most
    for path in (base, run_dir):
        os.chown(path, user.uid, user.gid)
    pm = Podman(user, base, run_dir)
    for sub in ("config", "data", "root"):
        os.mkdir(os.path.join(base, sub), 0o700)
        os.chown(os.path.join(base, sub), user.uid, user.gid)
    with open(pm.env["CONTAINERS_CONF"], "w") as f:
        f.write(CONTAINERS_CONF)
    os.chmod(pm.env["CONTAINERS_CONF"], 0o644)
    try:
        # joins (and starts) podman's pause-process namespace; the mask stays for later commands
        pm.run("unshare", "mount", "-t", "tmpfs", "tmpfs", "/sys/fs/cgroup")
        yield pm
    finally:
        pm.kill_pause()
        shutil.rmtree(base, ignore_errors=True)  # we are root: the subuid-owned files go too
        shutil.rmtree(run_dir, ignore_errors=True)


DOCKERFILE = """\
FROM {base}
RUN mkdir -p /data/keep /data/opq /data/gone && echo k > /data/keep/k && echo old > /data/opq/old \\
    && echo g > /data/gone/g && echo del > /data/del.txt
RUN rm /data/del.txt && rm -rf /data/opq /data/gone && mkdir /data/opq && echo new > /data/opq/new
RUN echo own > /data/owned && chown 1000:1000 /data/owned && mkdir /data/appdir && chown 1000:100 /data/appdir \\
    && ln -s keep/k /data/link && ln /data/keep/k /data/hard
CMD ["cat", "/data/link"]
"""

CHECK = ("stat -c '%u:%g %n' /data/owned /data/appdir /data/keep/k; ls -A /data; echo --; ls -A /data/opq; "
         "readlink /data/link; [ \"$(stat -c %i /data/hard)\" = \"$(stat -c %i /data/keep/k)\" ] && echo same-inode; "
         "stat -c %h /data/hard")


def test_built_image_runs_under_podman(engine, images, registry, podman, context) -> None:  # type: ignore[no-untyped-def]
    write(context, {"Dockerfile": DOCKERFILE.format(base=images.busybox)})
    name = f"{registry.host}/podman-peer:1"
    engine.docker("build", "-t", name, context, env=CLASSIC, timeout=300)
    ours = engine.docker("run", "--rm", name, "sh", "-c", CHECK).stdout
    # what podman has to apply: whiteouts, an opaque dir, a hard link (k copied up beside it)
    assert layer_names(engine, name, context, -2) == ["data", "data/.wh.del.txt", "data/.wh.gone", "data/opq",
                                                       "data/opq/.wh..wh..opq", "data/opq/new"]
    assert layer_names(engine, name, context, -1) == ["data", "data/appdir", "data/hard", "data/keep",
                                                       "data/keep/k", "data/link", "data/owned"]
    engine.docker("push", name)
    podman.run("pull", "-q", "--tls-verify=false", name)
    theirs = podman.run("run", "--rm", "--network", "none", name, "sh", "-c", CHECK).stdout
    assert theirs.splitlines() == ["1000:1000 /data/owned", "1000:100 /data/appdir", "0:0 /data/keep/k",
                                   "appdir", "hard", "keep", "link", "opq", "owned", "--", "new",
                                   "keep/k", "same-inode", "2"]
    assert theirs == ours
    assert podman.run("run", "--rm", "--network", "none", name).stdout == "k\n"
