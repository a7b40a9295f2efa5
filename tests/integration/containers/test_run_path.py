"""The run path's shortcuts keep their guarantees (issue 13, bench/README.md "The run path, quiet machine").

crun's directory is bound read-only over itself in the engine's mount
namespace, so crun skips its memfd self-copy at each call; the host's mount
table is untouched, and containers still run, exec and get removed.
"""
from __future__ import annotations

import json
import os
import shutil
import time

from tests import imagebuild
from tests.integration.conftest import Engine


def _mount_options(mountinfo: str, mount_point: str) -> str:
    """The per-mount options of the last mount at mount_point ("" when none)."""
    found = ""
    for line in mountinfo.splitlines():
        fields = line.split()
        if fields[4] == mount_point:
            found = fields[5]
    return found


def test_crun_dir_is_read_only_in_the_engine_namespace_only(engine: Engine, images: imagebuild.TestImages) -> None:
    crun_dir = os.path.dirname(os.path.realpath(shutil.which("crun") or "/usr/bin/crun"))
    engine.docker("pull", "-q", images.busybox, timeout=180)
    assert engine.docker("run", "--rm", images.busybox, "echo", "ran").stdout.strip() == "ran"
    with open(os.path.join(engine.run_dir, "pause.pid")) as f:
        pause = int(json.load(f)["pid"])
    with open(f"/proc/{pause}/mountinfo") as f:
        assert _mount_options(f.read(), crun_dir).split(",")[0] == "ro"
    with open("/proc/self/mountinfo") as f:  # the host's (this test runs as root outside)
        assert _mount_options(f.read(), crun_dir).split(",")[0] != "ro"
    cid = engine.docker("run", "-d", images.busybox, "sleep", "60").stdout.strip()
    try:
        assert engine.docker("exec", cid, "echo", "in").stdout.strip() == "in"  # crun exec too
    finally:
        engine.docker("rm", "-f", cid)


def test_back_to_back_rm_runs_on_the_bridge_get_working_networks_and_leave_no_veth(
        fresh_engine: Engine, images: imagebuild.TestImages) -> None:
    """A --rm container's veth is deleted after the answer, while the next run may already take its
    address: each run still gets the address, a route and the gateway, and no veth is left."""
    engine = fresh_engine  # its own shared namespace: no other test's veths
    engine.cli("info")
    engine.docker("pull", "-q", images.busybox, timeout=180)
    script = ("ip -4 -o addr show eth0 | grep -q ' inet 1' && gw=$(ip route | awk '/default/{print $3}') && "
              "ping -c1 -W2 $gw >/dev/null && echo ok")
    for _ in range(3):
        assert engine.docker("run", "--rm", images.busybox, "sh", "-c", script).stdout.strip() == "ok"
    netns = os.path.join(engine.run_dir, "netns", "netns")
    deadline = time.monotonic() + 10
    while True:
        links = engine.unshare("nsenter", f"--net={netns}", "ip", "-o", "link").stdout
        left = [line for line in links.splitlines() if ": rlv" in line]
        if not left:
            break
        assert time.monotonic() < deadline, f"veths left: {left}"
        time.sleep(0.1)
