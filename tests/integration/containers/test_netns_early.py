"""A bridge container's network namespace is the engine's (container_networks.make_netns): made
and wired before `crun create`, which joins it by the file the engine bound under its runtime dir.
The file lives as long as the container's process, a failed start leaves neither file nor veth,
and a restart gets a new namespace."""
from __future__ import annotations

import os
from typing import List

from tests import imagebuild
from tests.integration.conftest import Engine

VETH_PREFIX = "rlv"  # runtime/network/plumbing.VETH_PREFIX


def netns_dir(engine: Engine) -> str:
    return os.path.join(engine.run_dir, "netns", "containers")


def inode_of(engine: Engine, path: str) -> str:
    """The namespace inode at path, as the engine's mount namespace sees it (nsfs while bound)."""
    return engine.unshare("stat", "-L", "-c", "%i", path).stdout.strip()


def veths(engine: Engine) -> List[str]:
    shared = os.path.join(engine.run_dir, "netns", "netns")
    links = engine.unshare("nsenter", f"--net={shared}", "ip", "-o", "link").stdout.splitlines()
    return [line.split(":")[1].strip().split("@")[0] for line in links if f": {VETH_PREFIX}" in line]


def test_the_container_runs_in_the_namespace_the_engine_bound_and_it_goes_at_stop(
        engine: Engine, images: imagebuild.TestImages) -> None:
    engine.docker("pull", "-q", images.busybox, timeout=180)
    cid = engine.docker("run", "-d", images.busybox, "sleep", "60").stdout.strip()
    try:
        path = os.path.join(netns_dir(engine), cid)
        pid = engine.docker("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
        inside = engine.unshare("readlink", f"/proc/{pid}/ns/net").stdout.strip()
        assert inside == f"net:[{inode_of(engine, path)}]"  # crun joined the engine's, made none of its own
        engine.docker("restart", "-t", "0", cid)
        pid = engine.docker("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
        again = engine.unshare("readlink", f"/proc/{pid}/ns/net").stdout.strip()
        assert again == f"net:[{inode_of(engine, path)}]"  # made again (nsfs inodes are reused: not compared)
        assert engine.docker("exec", cid, "ip", "-o", "-4", "addr", "show", "eth0").stdout.count(" 172.17.") == 1
        engine.docker("stop", "-t", "0", cid)
        assert cid not in os.listdir(netns_dir(engine))
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
