"""Supervisor.drop_orphans: at start, the monitor dirs of containers a removal killed after its
rename had not released yet (engine/containers.py _release_removed)."""
from __future__ import annotations

import os
import time
from typing import Any

import pytest

from rootless.config.paths import Paths
from rootless.runtime import conmon
from rootless.runtime.crun import Crun
from rootless.runtime.supervisor import Supervisor


def make(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Supervisor:
    monkeypatch.setattr(conmon, "find_binary", lambda: "/usr/bin/conmon")
    paths = Paths(str(tmp_path / "root"), str(tmp_path / "run"))
    return Supervisor(paths, Crun("/usr/bin/crun", paths.crun_state), python="/usr/bin/python3", monitor="conmon")


def test_monitor_dirs_of_unrecorded_containers_go_recorded_and_live_ones_stay(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sup = make(tmp_path, monkeypatch)
    for cid in ("kept", "gone", "live"):
        os.makedirs(sup.paths.monitor_dir(cid))
    monkeypatch.setattr(sup, "is_alive", lambda cid: cid == "live")  # conmon still at its exit command
    assert sup.drop_orphans(lambda cid: cid == "kept") == ["gone"]
    assert sorted(n for n in os.listdir(sup.paths.monitors) if not n.startswith(".")) == ["kept", "live"]
    deadline = time.monotonic() + 5
    while sup.trash.leftovers():  # deleted on the trash's thread
        assert time.monotonic() < deadline
        time.sleep(0.01)

