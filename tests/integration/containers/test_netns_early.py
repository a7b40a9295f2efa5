"""A bridge container's network namespace is the engine's (container_networks.start_netns): made
and wired before `crun create`, which joins it by the file the engine bound under its runtime dir.
The file goes once the container started (its processes keep the namespace), a failed start
leaves neither file nor veth, and a restart gets a new namespace."""
from __future__ import annotations

import json
import os
import time
from typing import Dict, List

from tests import imagebuild
from tests.integration.conftest import Engine

VETH_PREFIX = "rlv"  # runtime/network/plumbing.VETH_PREFIX


def netns_dir(engine: Engine) -> str:
    return os.path.join(engine.run_dir, "netns", "containers")


def veths(engine: Engine) -> List[str]:
    shared = os.path.join(engine.run_dir, "netns", "netns")
    links = engine.unshare("nsenter", f"--net={shared}", "ip", "-o", "link").stdout.splitlines()
    return [line.split(":")[1].strip().split("@")[0] for line in links if f": {VETH_PREFIX}" in line]


def network_entry(engine: Engine, cid: str) -> List[Dict[str, str]]:
    with open(os.path.join(engine.root, "containers", cid, "bundle", "config.json")) as f:
        return [ns for ns in json.load(f)["linux"]["namespaces"] if ns["type"] == "network"]


def test_crun_joins_the_namespace_the_engine_bound_and_the_file_goes_once_started(
        engine: Engine, images: imagebuild.TestImages) -> None:
    engine.docker("pull", "-q", images.busybox, timeout=180)
    cid = engine.docker("run", "-d", images.busybox, "sleep", "60").stdout.strip()
    try:
        path = os.path.join(netns_dir(engine), cid)
        assert network_entry(engine, cid) == [{"type": "network", "path": path}]  # crun made none of its own
        # crun create joined it: the container's processes keep it, and the file goes
        deadline = time.monotonic() + 5  # its namespace thread removes it once crun create joined
        while cid in os.listdir(netns_dir(engine)) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cid not in os.listdir(netns_dir(engine))
        assert engine.docker("exec", cid, "ip", "-o", "-4", "addr", "show", "eth0").stdout.count(" 172.17.") == 1
        assert ",UP" in engine.docker("exec", cid, "ip", "link", "show", "lo").stdout  # crun brings up only its own
        engine.docker("restart", "-t", "0", cid)  # a new one, wired again
        assert engine.docker("exec", cid, "ip", "-o", "-4", "addr", "show", "eth0").stdout.count(" 172.17.") == 1
        assert os.listdir(netns_dir(engine)) == []
    finally:
        engine.docker("rm", "-f", cid, check=False)


def test_a_failed_start_leaves_no_namespace_and_no_veth(engine: Engine, images: imagebuild.TestImages) -> None:
    engine.docker("pull", "-q", images.busybox, timeout=180)
    before = veths(engine)
    result = engine.docker("run", "--rm", images.busybox, "no-such-command", check=False)
    assert result.returncode == 127, result.stderr
    result = engine.docker("run", "--name", "failed-start", images.busybox, "no-such-command", check=False)
    assert result.returncode == 127, result.stderr
    try:
        assert os.listdir(netns_dir(engine)) == []
        assert veths(engine) == before
    finally:
        engine.docker("rm", "-f", "failed-start", check=False)
