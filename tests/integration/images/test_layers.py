"""Layer unpacking inside the engine's user namespace: ownership, whiteouts, refusals."""
from __future__ import annotations

import json
import os

import pytest

from tests.integration.conftest import VENV_PYTHON

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "unpack_script.py")


@pytest.fixture(scope="module")
def report(engine) -> dict:
    with open(SCRIPT) as f:
        result = engine.unshare(VENV_PYTHON, "-", os.path.join(engine.root, "tmp"), input=f.read())
    return json.loads(result.stdout)


def test_ownership_and_modes_are_the_containers(report: dict) -> None:
    files = report["files"]
    assert (files["home/app"]["uid"], files["home/app"]["gid"], files["home/app"]["mode"]) == (1000, 1000, 0o700)
    assert (files["home/app/f"]["uid"], files["home/app/f"]["gid"]) == (1000, 1000)
    assert files["home/app/f"]["xattrs"] == {"user.note": "hi"}
    assert files["suid"]["mode"] == 0o4755 and files["suid"]["uid"] == 0


def test_unmapped_ids_fall_back_to_root(report: dict) -> None:
    assert report["files"]["unmapped"]["uid"] == 0


def test_links_fifos_and_devices(report: dict) -> None:
    files = report["files"]
    assert files["data/b-link"]["ino"] == files["data/b"]["ino"]
    assert files["fifo"]["fifo"] and files["sh"]["symlink"]
    assert report["null_exists"] is False  # only 0/0 devices can be made in a user namespace


def test_whiteouts_work_in_a_real_overlay(report: dict) -> None:
    assert report["top"]["data/a"]["whiteout"]
    assert report["opaque"] == "y"
    assert report["merged"] == {"data": ["b", "b-link"], "opq": ["z"]}


@pytest.mark.parametrize("name,reason", [
    ("dotdot", "escapes the layer"), ("absolute", "absolute path"), ("symlink", "is a symlink"),
    ("hardlink", "escapes the layer"),
])
def test_malicious_layers_are_refused(report: dict, name: str, reason: str) -> None:
    assert reason in report["evil"][name]
    assert report["evil"][name].startswith("can't unpack layer: sha256:")


def test_refused_layers_leave_nothing(report: dict) -> None:
    assert report["leftovers"] == [] and report["escaped"] == []
