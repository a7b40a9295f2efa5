"""A daemon SIGKILLed right after it bound a container's network namespace leaves nothing for good.

A bridge container's namespace is made by the engine before `crun create`
(container_networks.make_netns) and bound at <run>/netns/containers/<id> in
the engine's mount namespace, which the pause process keeps: a daemon killed
then leaves the bind (and the namespace it keeps alive) behind. The next
daemon start removes every such file before it starts anything (crun joined
the running containers' namespaces at create: their processes keep them),
and the interrupted container starts again with a new one.
"""
from __future__ import annotations

import os

import pytest

from tests import imagebuild
from tests.integration.conftest import Engine
from tests.integration.images.test_store_crash import CRASH_ENV, has_exited, start_daemon

POINT = "netns:after-bind"


def bound(engine: Engine, directory: str) -> int:
    """The nsfs mounts under directory in the engine's mount namespace."""
    mounts = engine.unshare("cat", "/proc/self/mountinfo").stdout.splitlines()
    return sum(1 for line in mounts if f" {directory}/" in line and " - nsfs " in line)


@pytest.mark.parametrize("rm", [True, False], ids=["rm", "kept"])
def test_a_daemon_killed_after_the_bind_leaves_no_namespace_for_good(fresh_engine: Engine,
                                                                     images: imagebuild.TestImages,
                                                                     rm: bool) -> None:
    start_daemon(fresh_engine, {CRASH_ENV: POINT})
    fresh_engine.docker("pull", "-q", images.busybox, timeout=180)
    pid = fresh_engine.daemon_pid()
    flags = ["--rm"] if rm else []
    result = fresh_engine.docker("run", *flags, "--name", "cut", images.busybox, "true", check=False)
    assert has_exited(pid), f"the daemon did not die at {POINT}: {result.stdout} {result.stderr}"
    directory = os.path.join(fresh_engine.run_dir, "netns", "containers")
    assert len(os.listdir(directory)) == 1 and bound(fresh_engine, directory) == 1  # left by the killed one

    fresh_engine.cli("info")  # a new daemon without the hook
    assert os.listdir(directory) == [] and bound(fresh_engine, directory) == 0
    assert fresh_engine.docker("start", "-a", "cut").returncode == 0  # the interrupted one, a new namespace
    out = fresh_engine.docker("run", "--rm", images.busybox, "ip", "-o", "-4", "addr", "show", "eth0").stdout
    assert " 172.17.0." in out
    assert os.listdir(directory) == [] and bound(fresh_engine, directory) == 0  # each went with its exit
