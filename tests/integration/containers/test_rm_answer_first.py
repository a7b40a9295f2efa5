"""`docker run --rm` is answered at the rename of the container's dir into the trash; the
rootfs's unmount and the monitor dir come after the answer (engine/containers.py
_release_removed, bench/README.md "The exit path").

Crash safety: a daemon SIGKILLed right after the rename (the rootfs still mounted in its
trash entry, the monitor dir still there) or after the release (before the deletion)
leaves what the next start finishes: the trash emptied (its deletion unmounts first),
nothing mounted, no monitor dir, no /etc files' dir, the endpoint released (its write
comes after the answer too), the name free. And what a user
does right after the answer works: the same name again, `docker image rm` of the image,
`docker network rm` of the network; anonymous volumes still go with the container.
"""
from __future__ import annotations

import json
import os
import time
from typing import List

import pytest

from tests import imagebuild
from tests.integration.conftest import Engine
from tests.integration.images.test_store_crash import CRASH_ENV, has_exited, start_daemon


def _trash(engine: Engine) -> List[str]:
    path = os.path.join(engine.root, "containers", ".trash")
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def _monitors(engine: Engine) -> List[str]:
    path = os.path.join(engine.run_dir, "monitors")
    return sorted(n for n in os.listdir(path) if not n.startswith(".")) if os.path.isdir(path) else []


def _etc_dirs(engine: Engine) -> List[str]:
    """Containers' hostname/hosts/resolv.conf dirs in the runtime dir (Paths.etc_dir)."""
    path = os.path.join(engine.run_dir, "etc")
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def _mounts(engine: Engine) -> str:
    with open(os.path.join(engine.run_dir, "pause.pid")) as f:
        pause = int(json.load(f)["pid"])
    with open(f"/proc/{pause}/mountinfo") as f:
        return f.read()


def _eventually(check, what: str, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.parametrize("point", ["container-rm:after-trash", "container-rm:after-release"])
def test_run_rm_killed_after_the_rename_is_finished_by_the_next_start(
        fresh_engine: Engine, images: imagebuild.TestImages, point: str) -> None:
    start_daemon(fresh_engine, {CRASH_ENV: point})
    fresh_engine.docker("pull", "-q", images.busybox, timeout=180)
    pid = fresh_engine.daemon_pid()
    result = fresh_engine.docker("run", "--rm", "--name", "short", images.busybox, "true", check=False)
    assert has_exited(pid), f"the daemon did not die at {point}: {result.stdout} {result.stderr}"
    [entry] = _trash(fresh_engine)
    cid = entry.split("-")[0]
    assert _etc_dirs(fresh_engine) == [cid]  # removed after the release, off the answer's path
    if point == "container-rm:after-trash":  # renamed with its rootfs mounted, monitor dir not yet released
        assert f"/.trash/{entry}/rootfs/merged" in _mounts(fresh_engine)
        assert _monitors(fresh_engine) == [cid]
    else:
        assert "/.trash/" not in _mounts(fresh_engine) and _monitors(fresh_engine) == []
    fresh_engine.cli("info")  # a new daemon without the hook
    assert fresh_engine.docker("inspect", "short", check=False).returncode != 0
    _eventually(lambda: _trash(fresh_engine) == [], f"trash not emptied: {_trash(fresh_engine)}")
    assert cid not in _mounts(fresh_engine)
    _eventually(lambda: _monitors(fresh_engine) == [], f"monitor dirs left: {_monitors(fresh_engine)}")
    assert _etc_dirs(fresh_engine) == []  # dropped as orphans at the start
    bridge = json.loads(fresh_engine.docker("network", "inspect", "bridge").stdout)[0]
    assert bridge["Containers"] == {}
    out = fresh_engine.docker("run", "--rm", "--name", "short", images.busybox, "echo", "again").stdout
    assert out.strip() == "again"


def test_what_follows_a_run_rm_at_once_finds_the_name_image_network_and_volumes_free(
        fresh_engine: Engine, images: imagebuild.TestImages) -> None:
    fresh_engine.cli("info")
    fresh_engine.docker("pull", "-q", images.busybox, timeout=180)
    for _ in range(3):
        fresh_engine.docker("run", "--rm", "--name", "same", images.busybox, "true")
        fresh_engine.docker("run", "--rm", "--name", "same", images.busybox, "true")
    fresh_engine.docker("network", "create", "quick")
    fresh_engine.docker("run", "--rm", "--network", "quick", images.busybox, "true")
    fresh_engine.docker("network", "rm", "quick")
    fresh_engine.docker("run", "--rm", "-v", "/data", images.busybox, "sh", "-c", "echo x > /data/f")
    assert fresh_engine.docker("volume", "ls", "-q").stdout.strip() == ""
    for _ in range(2):
        fresh_engine.docker("pull", "-q", images.layered, timeout=180)
        fresh_engine.docker("run", "--rm", images.layered, "true")
        fresh_engine.docker("image", "rm", images.layered)
    _eventually(lambda: _trash(fresh_engine) == [], f"trash not emptied: {_trash(fresh_engine)}")
    assert os.path.join(fresh_engine.root, "containers") not in _mounts(fresh_engine)
    assert _monitors(fresh_engine) == []
