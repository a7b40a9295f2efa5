"""Issue 11: docker cp, rootless cp and the archive API see the container's mounts.

A volume, a bind mount and the engine's /etc files are what the container
sees at their paths, running or stopped; a copy into a volume lands in the
volume (the container sees it), not in the directory hidden beneath; a
symlink inside a volume never leads out to the host.
"""
from __future__ import annotations

import io
import os
import pathlib
import shutil
import tarfile
import tempfile
import uuid
from typing import Iterator, Tuple

import pytest

from tests.integration.conftest import Engine

SECRET = f"HOSTSECRET-{uuid.uuid4().hex}"


@pytest.fixture()
def workdir(engine: Engine) -> Iterator[pathlib.Path]:
    """A user-owned host dir: bind source, cp sources and destinations."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="cpmnt-", dir="/tmp"))
    (path / "bind").mkdir()
    (path / "bind" / "b.txt").write_text("from the bind\n")
    (path / "in.txt").write_text("copied in\n")
    (path / "out").mkdir()
    for entry in (path, path / "bind", path / "bind" / "b.txt", path / "in.txt", path / "out"):
        os.chown(entry, engine.user.uid, engine.user.gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(params=["running", "stopped"])
def box(request: pytest.FixtureRequest, engine: Engine, busybox: str, workdir: pathlib.Path
        ) -> Iterator[Tuple[str, str]]:
    """(name, volume) of a container with a named volume at /data and a bind at /bind, running or stopped."""
    name, volume = f"cpm-{uuid.uuid4().hex[:8]}", f"cpmv-{uuid.uuid4().hex[:8]}"
    engine.docker("run", "-d", "--name", name, "--hostname", "cpmhost", "-v", f"{volume}:/data",
                  "-v", f"{workdir / 'bind'}:/bind", busybox, "sh", "-c",
                  "echo in the volume > /data/v.txt; ln -s / /data/toroot; ln -s ../../.. /data/up;"
                  " touch /data/ready; sleep 300")
    _wait_for(engine, name)
    if request.param == "stopped":
        engine.docker("stop", "-t", "0", name)
    yield name, request.param
    engine.docker("rm", "-f", name, check=False)
    engine.docker("volume", "rm", "-f", volume, check=False)


def _wait_for(engine: Engine, name: str) -> None:
    for _ in range(100):
        if engine.docker("exec", name, "test", "-e", "/data/ready", check=False).returncode == 0:
            return
    raise AssertionError("the container did not fill its volume")


def _read_out(engine: Engine, workdir: pathlib.Path, source: str) -> str:
    target = workdir / "out" / uuid.uuid4().hex
    engine.docker("cp", source, str(target))
    return target.read_text()


def test_docker_cp_out_of_a_volume_a_bind_and_the_etc_files(engine: Engine, box: Tuple[str, str],
                                                              workdir: pathlib.Path) -> None:
    name, _ = box
    assert _read_out(engine, workdir, f"{name}:/data/v.txt") == "in the volume\n"
    assert _read_out(engine, workdir, f"{name}:/bind/b.txt") == "from the bind\n"
    assert _read_out(engine, workdir, f"{name}:/etc/hostname") == "cpmhost\n"
    assert "cpmhost" in _read_out(engine, workdir, f"{name}:/etc/hosts")
    assert "nameserver" in _read_out(engine, workdir, f"{name}:/etc/resolv.conf")


def test_rootless_cp_out_of_a_volume(engine: Engine, box: Tuple[str, str], workdir: pathlib.Path) -> None:
    name, _ = box
    target = workdir / "out" / "ours.txt"
    engine.cli("cp", f"{name}:/data/v.txt", str(target))
    assert target.read_text() == "in the volume\n"


def test_cp_into_a_volume_and_a_bind_lands_in_the_mount(engine: Engine, box: Tuple[str, str],
                                                        workdir: pathlib.Path) -> None:
    name, state = box
    engine.docker("cp", str(workdir / "in.txt"), f"{name}:/data/")
    engine.cli("cp", str(workdir / "in.txt"), f"{name}:/bind/ours.txt")
    assert (workdir / "bind" / "ours.txt").read_text() == "copied in\n"
    if state == "stopped":
        engine.docker("start", name)
    seen = engine.docker("exec", name, "cat", "/data/in.txt").stdout
    assert seen == "copied in\n"


def test_docker_py_archive_through_a_volume(engine: Engine, box: Tuple[str, str]) -> None:
    name, state = box
    container = engine.client().containers.get(name)
    body = io.BytesIO()
    with tarfile.open(fileobj=body, mode="w") as tar:
        data = b"put by docker-py\n"
        info = tarfile.TarInfo("py.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert container.put_archive("/data", body.getvalue())
    chunks, stat = container.get_archive("/data/py.txt")
    assert stat["name"] == "py.txt" and stat["size"] == len(data)
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        member = tar.extractfile("py.txt")
        assert member is not None and member.read() == data
    _, hostname_stat = container.get_archive("/etc/hostname")
    assert hostname_stat["size"] == len("cpmhost\n")


def test_a_symlink_in_a_volume_never_leads_to_the_host(engine: Engine, box: Tuple[str, str],
                                                       workdir: pathlib.Path) -> None:
    """/data/toroot -> / and /data/up -> ../../..: the container's view (or the volume), never the host's."""
    name, _ = box
    secret = workdir / "secret.txt"
    secret.write_text(SECRET + "\n")
    os.chown(secret, engine.user.uid, engine.user.gid)
    relative = str(secret).lstrip("/")
    for link in ("toroot", "up"):
        result = engine.docker("cp", f"{name}:/data/{link}/{relative}", str(workdir / "out" / link), check=False)
        assert result.returncode != 0 and not (workdir / "out" / link).exists()
        engine.docker("cp", str(workdir / "in.txt"), f"{name}:/data/{link}/{relative.rsplit('/', 1)[0]}/",
                      check=False)
        assert secret.read_text() == SECRET + "\n"
        assert sorted(os.listdir(workdir)) == ["bind", "in.txt", "out", "secret.txt"]


def test_a_running_containers_tmpfs_and_a_read_only_volume(engine: Engine, busybox: str,
                                                           workdir: pathlib.Path) -> None:
    """tmpfs exists only in the running container's mount namespace; a :ro mount refuses a copy in."""
    name, volume = f"cpm-{uuid.uuid4().hex[:8]}", f"cpmv-{uuid.uuid4().hex[:8]}"
    engine.docker("run", "-d", "--name", name, "--tmpfs", "/scratch", "-v", f"{volume}:/ro:ro", busybox,
                  "sleep", "300")
    try:
        engine.docker("cp", str(workdir / "in.txt"), f"{name}:/scratch/")
        assert engine.docker("exec", name, "cat", "/scratch/in.txt").stdout == "copied in\n"
        assert _read_out(engine, workdir, f"{name}:/scratch/in.txt") == "copied in\n"
        refused = engine.docker("cp", str(workdir / "in.txt"), f"{name}:/ro/", check=False)
        assert refused.returncode != 0 and "read-only" in refused.stderr.lower()
        engine.docker("stop", "-t", "0", name)
        refused = engine.docker("cp", str(workdir / "in.txt"), f"{name}:/ro/", check=False)
        assert refused.returncode != 0 and "read-only" in refused.stderr.lower()
    finally:
        engine.docker("rm", "-f", name, check=False)
        engine.docker("volume", "rm", "-f", volume, check=False)


def test_a_directory_above_the_mounts_carries_them_both_ways(engine: Engine, box: Tuple[str, str],
                                                             workdir: pathlib.Path) -> None:
    """docker cp box:/etc and docker cp dir box:/ cross the mounts below them, as docker's view does."""
    name, state = box
    engine.docker("cp", f"{name}:/etc", str(workdir / "out" / "etc"))
    assert (workdir / "out" / "etc" / "hostname").read_text() == "cpmhost\n"
    tree = workdir / "tree"
    (tree / "data").mkdir(parents=True)
    (tree / "data" / "deep.txt").write_text("into the volume\n")
    for entry in (tree, tree / "data", tree / "data" / "deep.txt"):
        os.chown(entry, engine.user.uid, engine.user.gid)
    engine.docker("cp", f"{tree}/.", f"{name}:/")
    if state == "stopped":
        engine.docker("start", name)
    assert engine.docker("exec", name, "cat", "/data/deep.txt").stdout == "into the volume\n"


def test_copying_the_root_out_has_the_mounts_but_not_the_kernel_filesystems(engine: Engine,
                                                                           box: Tuple[str, str]) -> None:
    """docker cp box:/ -: volumes and /etc files as the container sees them; /proc, /sys, /dev as empty dirs."""
    name, _ = box
    chunks, _ = engine.client().containers.get(name).get_archive("/")
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        names = [member.name.lstrip("./") for member in tar]
        hostname = tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith("etc/hostname")))
        assert hostname is not None and hostname.read() == b"cpmhost\n"
    assert "data/v.txt" in names and "bin/busybox" in names
    assert not [n for n in names if n.startswith(("proc/", "sys/", "dev/"))]
