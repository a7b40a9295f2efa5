"""Network endpoints a killed daemon left without a container are dropped at the next start.

A --rm container's endpoint is in the network's side file, written without
fsync (networks/store.py, _save_ephemeral), and its record has no fsync
either: a power cut can keep the endpoint and lose the container. The same
happens to any container when the daemon dies between the network connect
and the container's first record (ROOTLESS_TEST_CRASH_AT=container-create:after-connect).
The next start drops such endpoints, so their addresses are free again.
"""
from __future__ import annotations

import pytest

from tests import imagebuild
from tests.integration.conftest import Engine
from tests.integration.images.test_store_crash import CRASH_ENV, has_exited, start_daemon

POINT = "container-create:after-connect"


@pytest.mark.parametrize("rm", [True, False], ids=["rm", "kept"])
def test_create_killed_after_connect_leaves_the_address_free(fresh_engine: Engine, images: imagebuild.TestImages,
                                                             rm: bool) -> None:
    start_daemon(fresh_engine, {CRASH_ENV: POINT})
    fresh_engine.docker("pull", "-q", images.busybox, timeout=180)
    fresh_engine.docker("network", "create", "--subnet", "10.123.7.0/24", "crashnet")
    pid = fresh_engine.daemon_pid()
    flags = ["--rm"] if rm else []
    result = fresh_engine.docker("run", *flags, "--network", "crashnet", "--ip", "10.123.7.9", images.busybox,
                                 "true", check=False)
    assert result.returncode != 0 and has_exited(pid), f"the daemon did not die at {POINT}: {result.stdout}"
    fresh_engine.cli("info")  # a new daemon without the hook
    assert fresh_engine.docker("ps", "-aq").stdout.strip() == ""
    out = fresh_engine.docker("run", "--rm", "--network", "crashnet", "--ip", "10.123.7.9", images.busybox,
                              "ip", "-4", "-o", "addr", "show", "eth0").stdout
    assert "10.123.7.9/24" in out  # the address the killed create had taken is free again
    fresh_engine.docker("network", "rm", "crashnet")
