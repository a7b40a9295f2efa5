"""A container's volumes live as long as the container, and volume removal survives SIGKILL.

Docker and podman choose a container's volumes once, at create: every start
mounts the same ones (data written before a restart is still there), inspect
shows them from create on, and `rm -v` removes exactly the anonymous ones.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import Dict, List

import pytest

from tests import imagebuild
from tests.integration.conftest import DOCKER, VENV_PYTHON, Engine


@pytest.fixture(scope="module")
def volume_image(registry, images) -> str:  # type: ignore[no-untyped-def]
    """busybox with `VOLUME /data` in its config."""
    layer = images.busybox_layer
    config = imagebuild.image_config([layer], extra={"Volumes": {"/data": {}}})
    registry.client.push_image("busybox-volume", "latest", [layer], config)
    return f"{registry.host}/busybox-volume:latest"


def _mounts(engine: Engine, container: str) -> Dict[str, Dict[str, object]]:
    out = engine.docker("inspect", "-f", "{{json .Mounts}}", container).stdout
    return {m["Destination"]: m for m in json.loads(out)}


def _volume_names(engine: Engine) -> List[str]:
    return engine.docker("volume", "ls", "-q").stdout.split()


def test_restart_keeps_anonymous_volume_and_rm_v_leaves_none(engine: Engine, busybox: str,
                                                            volume_image: str) -> None:
    engine.docker("pull", "-q", volume_image)
    engine.docker("create", "--name", "vol-life", "-v", "/extra", volume_image, "sleep", "300")
    try:
        created = _mounts(engine, "vol-life")  # docker shows the volumes from create on
        assert sorted(created) == ["/data", "/extra"]
        names = [str(m["Name"]) for m in created.values()]
        assert all(m["Type"] == "volume" and m["Source"] for m in created.values())
        assert set(names) <= set(_volume_names(engine))
        engine.docker("start", "vol-life")
        engine.docker("exec", "vol-life", "sh", "-c", "echo precious > /data/f; echo more > /extra/g")
        engine.docker("restart", "-t", "0", "vol-life")
        assert engine.docker("exec", "vol-life", "cat", "/data/f", "/extra/g").stdout == "precious\nmore\n"
        engine.docker("stop", "-t", "0", "vol-life")
        engine.docker("start", "vol-life")
        assert engine.docker("exec", "vol-life", "cat", "/data/f").stdout == "precious\n"
        assert _mounts(engine, "vol-life") == created
    finally:
        engine.docker("rm", "-f", "-v", "vol-life")
    left = set(_volume_names(engine))
    assert not left & set(names)


def test_rm_v_removes_anonymous_not_named(engine: Engine, busybox: str) -> None:
    engine.docker("create", "--name", "vol-mixed", "-v", "mixed-named:/n", "-v", "/anon", busybox, "true")
    mounts = _mounts(engine, "vol-mixed")
    anonymous = str(mounts["/anon"]["Name"])
    assert mounts["/n"]["Name"] == "mixed-named"  # a missing named volume is created at create
    engine.docker("start", "-a", "vol-mixed")
    engine.docker("rm", "-v", "vol-mixed")
    names = _volume_names(engine)
    try:
        assert "mixed-named" in names and anonymous not in names
    finally:
        engine.docker("volume", "rm", "mixed-named")


def test_docker_py_volumes_survive_restart(engine: Engine, busybox: str) -> None:
    client = engine.client()
    container = client.containers.run(busybox, ["sleep", "300"], detach=True,
                                      volumes=["/anon", "py-named:/named"])
    try:
        container.exec_run(["sh", "-c", "echo a > /anon/f; echo n > /named/f"])
        container.restart(timeout=0)
        assert container.exec_run(["cat", "/anon/f", "/named/f"]).output == b"a\nn\n"
        container.reload()
        anonymous = next(m["Name"] for m in container.attrs["Mounts"] if m["Destination"] == "/anon")
    finally:
        container.remove(force=True, v=True)
    names = [v.name for v in client.volumes.list()]
    try:
        assert anonymous not in names and "py-named" in names
    finally:
        client.volumes.get("py-named").remove()


def test_volume_in_use_is_refused_like_docker(engine: Engine, busybox: str) -> None:
    engine.docker("volume", "create", "busy-vol")
    container = engine.docker("create", "-v", "busy-vol:/x", busybox, "true").stdout.strip()
    try:
        for force in ([], ["-f"]):  # docker >= 23 refuses even with -f
            refused = engine.docker("volume", "rm", *force, "busy-vol", check=False)
            assert refused.returncode == 1
            assert refused.stderr.strip() == (
                f"Error response from daemon: remove busy-vol: volume is in use - [{container}]")
        engine.docker("start", "-a", container)  # exited: still uses it
        assert engine.docker("volume", "rm", "busy-vol", check=False).returncode == 1
        assert "busy-vol" in _volume_names(engine)
    finally:
        engine.docker("rm", container)
    engine.docker("volume", "rm", "busy-vol")
    assert "busy-vol" not in _volume_names(engine)


def test_volumes_survive_a_daemon_restart(fresh_engine: Engine, images, volume_image: str) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    eng.docker("pull", "-q", volume_image, timeout=300)
    eng.docker("run", "-d", "--name", "keeper", "-v", "/extra", volume_image, "sleep", "300")
    eng.docker("exec", "keeper", "sh", "-c", "echo precious > /data/f; echo more > /extra/g")
    before = _mounts(eng, "keeper")
    eng.docker("stop", "-t", "0", "keeper")
    eng.cli("system", "stop")
    eng.cli("info")  # a new daemon
    eng.docker("start", "keeper")
    assert eng.docker("exec", "keeper", "cat", "/data/f", "/extra/g").stdout == "precious\nmore\n"
    assert _mounts(eng, "keeper") == before
    eng.docker("rm", "-f", "-v", "keeper")
    assert _volume_names(eng) == []


def _fill_volume(eng: Engine, image: str, name: str, count: int) -> None:
    eng.docker("run", "--rm", "-v", f"{name}:/v", image, "sh", "-c",
               f"cd /v && i=0; while [ $i -lt {count} ]; do mkdir d$i && echo x > d$i/f; i=$((i+1)); done",
               timeout=300)


def _kill_during_rm(eng: Engine, volumes_dir: str, name: str) -> bool:
    """SIGKILL the daemon once the volume left its place (renamed away, deletion running)."""
    rm = eng.user.popen([DOCKER, "volume", "rm", name], env=eng.env, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while os.path.exists(os.path.join(volumes_dir, name)) and time.monotonic() < deadline:
        time.sleep(0.001)
    os.kill(eng.daemon_pid(), signal.SIGKILL)
    rm.wait(30)
    trash = os.path.join(volumes_dir, ".trash")
    return os.path.isdir(trash) and bool(os.listdir(trash))


def test_sigkill_during_volume_rm_is_finished_by_the_next_daemon(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    eng.docker("pull", "-q", images.busybox, timeout=300)
    volumes_dir = os.path.join(eng.root, "volumes")
    caught = False
    for attempt in range(3):  # the kill must land while the data is being deleted
        _fill_volume(eng, images.busybox, f"big{attempt}", 3000)
        caught = _kill_during_rm(eng, volumes_dir, f"big{attempt}")
        # what an older version left behind is cleaned up too
        legacy = os.path.join(volumes_dir, f".deleting-old{attempt}-0123abcd")
        os.makedirs(os.path.join(legacy, "_data"))
        for path in (legacy, os.path.join(legacy, "_data")):
            os.chown(path, eng.user.uid, eng.user.gid)
        eng.cli("info")  # the next daemon
        assert f"big{attempt}" not in _volume_names(eng)
        assert sorted(os.listdir(volumes_dir)) in ([".lock", ".trash"], [".lock"], [".trash"])
        assert os.listdir(os.path.join(volumes_dir, ".trash")) == []
        if caught:
            break
    assert caught, "the daemon was never killed while a removal was under way"


def test_daemon_started_under_umask_077_gives_docker_modes(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.user.run(["sh", "-c", 'umask 077; exec "$0" -m rootless.cli info', VENV_PYTHON], env=eng.env)
    eng.docker("pull", "-q", images.busybox, timeout=300)
    user = ["-u", "1000:1000"]
    listing = eng.docker("run", "--rm", *user, images.busybox, "ls", "/").stdout.split()
    assert "bin" in listing and "etc" in listing
    assert eng.docker("run", "--rm", images.busybox, "stat", "-c", "%a", "/", "/bin", "/etc/hosts",
                      "/etc/hostname", "/etc/resolv.conf").stdout.split() == ["755", "755", "644", "644", "644"]
    assert "localhost" in eng.docker("run", "--rm", *user, images.busybox, "cat", "/etc/hosts").stdout
    eng.docker("run", "--rm", "-v", "fresh:/v", images.busybox, "sh", "-c", "echo hi > /v/f")
    out = eng.docker("run", "--rm", *user, "-v", "fresh:/v", images.busybox,
                     "sh", "-c", "cat /v/f; stat -c '%u:%g %a' /v").stdout
    assert out == "hi\n0:0 755\n"
