"""RootlessNetns.detach(wait=False): a removed container's veth goes on one long-lived thread.

A thread per removal made every `run --rm` exit wait in Thread.start() until the new
thread ran (up to ms on a loaded host, bench/README.md "The exit path")."""
from __future__ import annotations

import threading
import time
from typing import Any, List

import pytest

from rootless.runtime.network import plumbing, rootless_netns
from rootless.runtime.network.host import EndpointSpec
from rootless.runtime.network.rootless_netns import RootlessNetns


def test_removals_queue_their_veths_for_one_deleting_thread(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rootless_netns, "LINK_DELETE_DELAY", 0.0)
    netns = RootlessNetns(str(tmp_path), upstreams=[])
    deleted: List[str] = []
    monkeypatch.setattr(netns, "_delete_link", deleted.append)
    before = threading.active_count()
    ids = [f"{n:064x}" for n in range(1, 6)]
    for cid in ids:
        netns.detach("", EndpointSpec("net1", cid, "10.88.0.2", "eth0"), wait=False)
    deadline = time.monotonic() + 5
    while len(deleted) < len(ids):
        assert time.monotonic() < deadline, deleted
        time.sleep(0.01)
    assert deleted == [plumbing.veth_name("net1", cid) for cid in ids]
    assert threading.active_count() == before + 1  # the one deleter, waiting for more


def test_a_link_that_fails_does_not_stop_the_deleter(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rootless_netns, "LINK_DELETE_DELAY", 0.0)
    netns = RootlessNetns(str(tmp_path), upstreams=[])
    deleted: List[str] = []

    def delete(veth: str) -> None:
        if not deleted:
            deleted.append("failed")
            raise OSError("netlink: out of memory")
        deleted.append(veth)

    monkeypatch.setattr(netns, "_delete_link", delete)
    for cid in ("a" * 64, "b" * 64):
        netns.detach("", EndpointSpec("net1", cid, "10.88.0.2", "eth0"), wait=False)
    deadline = time.monotonic() + 5
    while len(deleted) < 2:
        assert time.monotonic() < deadline, deleted
        time.sleep(0.01)
    assert deleted == ["failed", plumbing.veth_name("net1", "b" * 64)]
