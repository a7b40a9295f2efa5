"""Bind propagation (issue 16): the engine's mount namespace is rslave, as rootlesskit's and podman's are.

A host mount made later under an `rslave` bind's source reaches the running container, and an
`rprivate` bind of the same source does not see it. The sources here are mounts the test makes
itself (a shared one and a private one), so the outcome does not depend on whether the host's `/`
is shared (systemd) or private. Nothing the engine mounts shows on the host. moby's source rules
(ensureShared / ensureSharedOrSlave) refuse with moby's wording what the namespace can't give.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from typing import Iterator, NamedTuple

import pytest

from tests.integration.conftest import Engine, TestUser, kill_engine_processes, make_engine


class HostDirs(NamedTuple):
    shared: str  # a shared mount point on the host: the engine's copy is its slave
    private: str  # a private mount point on the host: the engine's copy is private too


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def host_dirs() -> Iterator[HostDirs]:
    """Made before the engine below starts: its namespace copies the host's mounts at its start."""
    base = tempfile.mkdtemp(prefix="rootless-propagation-", dir="/tmp")
    os.chmod(base, 0o755)
    dirs = HostDirs(os.path.join(base, "shared"), os.path.join(base, "private"))
    for path, kind in ((dirs.shared, "--make-shared"), (dirs.private, "--make-private")):
        os.mkdir(path, 0o755)
        _mount("--bind", path, path)
        _mount(kind, path)
    yield dirs
    for path in (os.path.join(dirs.shared, "sub"), dirs.shared, dirs.private):
        subprocess.run(["umount", "-l", path], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def prop_engine(user: TestUser, images, host_dirs: HostDirs) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """An engine of its own, started after host_dirs exist (the session engine predates them)."""
    base = tempfile.mkdtemp(prefix="rootless-fresh-", dir="/tmp")
    eng = make_engine(user, base)
    eng.cli("info")  # starts the daemon (and its namespace) now, after host_dirs
    eng.docker("pull", "-q", images.busybox, timeout=300)
    yield eng
    eng.stop()
    kill_engine_processes(eng.run_dir)
    shutil.rmtree(base, ignore_errors=True)


def _exec_cat(engine: Engine, name: str, path: str) -> "subprocess.CompletedProcess[str]":
    return engine.docker("exec", name, "cat", path, check=False)


def test_rslave_bind_receives_host_mounts_and_rprivate_does_not(prop_engine: Engine, images,  # type: ignore[no-untyped-def]
                                                                host_dirs: HostDirs) -> None:
    busybox = images.busybox
    os.mkdir(os.path.join(host_dirs.shared, "sub"), 0o755)
    try:
        prop_engine.docker("run", "-d", "--name", "slave", "-v", f"{host_dirs.shared}:/b:rslave", busybox,
                           "sleep", "300")
        prop_engine.docker("run", "-d", "--name", "private", "--mount",
                           f"type=bind,src={host_dirs.shared},dst=/b,bind-propagation=rprivate", busybox,
                           "sleep", "300")
        _mount("-t", "tmpfs", "-o", "mode=755", "tmpfs", os.path.join(host_dirs.shared, "sub"))
        with open(os.path.join(host_dirs.shared, "sub", "marker"), "w") as f:
            f.write("from the host\n")
        seen = _exec_cat(prop_engine, "slave", "/b/sub/marker")
        assert seen.returncode == 0 and seen.stdout == "from the host\n", seen.stderr
        unseen = _exec_cat(prop_engine, "private", "/b/sub/marker")
        assert unseen.returncode != 0 and "No such file" in unseen.stderr
        assert prop_engine.docker("inspect", "-f", "{{range .Mounts}}{{.Propagation}}{{end}}",
                                  "slave").stdout.strip() == "rslave"
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            host_table = f.read()
        assert prop_engine.root not in host_table  # the engine's overlays never leak out to the host
    finally:
        prop_engine.docker("rm", "-f", "slave", "private", check=False)


def test_unmount_on_the_host_reaches_the_rslave_bind(prop_engine: Engine, images,  # type: ignore[no-untyped-def]
                                                     host_dirs: HostDirs) -> None:
    sub = os.path.join(host_dirs.shared, "sub")
    os.makedirs(sub, exist_ok=True)
    _mount("-t", "tmpfs", "tmpfs", sub)
    with open(os.path.join(sub, "gone"), "w") as f:
        f.write("x")
    try:
        prop_engine.docker("run", "-d", "--name", "unmount", "-v", f"{host_dirs.shared}:/b:rslave", images.busybox,
                           "sleep", "300")
        assert _exec_cat(prop_engine, "unmount", "/b/sub/gone").returncode == 0
        subprocess.run(["umount", sub], check=True)
        deadline = time.monotonic() + 5
        while _exec_cat(prop_engine, "unmount", "/b/sub/gone").returncode == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _exec_cat(prop_engine, "unmount", "/b/sub/gone").returncode != 0
    finally:
        prop_engine.docker("rm", "-f", "unmount", check=False)
        subprocess.run(["umount", sub], capture_output=True)


def test_rslave_reaches_a_keep_id_container(prop_engine: Engine, images,  # type: ignore[no-untyped-def]
                                            host_dirs: HostDirs) -> None:
    """keep-id nests a user namespace: its mount namespace gets slave copies, still fed by the host."""
    sub = os.path.join(host_dirs.shared, "keep")
    os.makedirs(sub, exist_ok=True)
    try:
        prop_engine.cli("run", "-d", "--name", "keep", "--userns=keep-id", "-v", f"{host_dirs.shared}:/b:rslave",
                        images.busybox, "sleep", "300")
        _mount("-t", "tmpfs", "-o", "mode=755", "tmpfs", sub)
        with open(os.path.join(sub, "marker"), "w") as f:
            f.write("kept\n")
        seen = _exec_cat(prop_engine, "keep", "/b/keep/marker")
        assert seen.returncode == 0 and seen.stdout == "kept\n", seen.stderr
    finally:
        prop_engine.docker("rm", "-f", "keep", check=False)
        subprocess.run(["umount", sub], capture_output=True)


def test_sources_the_namespace_cannot_share_are_refused_with_mobys_wording(  # type: ignore[no-untyped-def]
        prop_engine: Engine, images, host_dirs: HostDirs) -> None:
    busybox = images.busybox
    private = prop_engine.docker("run", "--rm", "-v", f"{host_dirs.private}:/b:rslave", busybox, "true", check=False)
    assert private.returncode == 125, private.stderr
    assert (f"path {host_dirs.private} is mounted on {host_dirs.private} but it is not a shared or slave mount"
            in private.stderr)
    # Shared on the host, but a slave in the engine's namespace (a less privileged user namespace
    # only ever gets slave copies): moby's ensureShared refuses.
    shared = prop_engine.docker("run", "--rm", "--mount",
                                f"type=bind,src={host_dirs.shared},dst=/b,bind-propagation=rshared", busybox,
                                "true", check=False)
    assert shared.returncode == 125, shared.stderr
    assert f"path {host_dirs.shared} is mounted on {host_dirs.shared} but it is not a shared mount" in shared.stderr


def test_rshared_refused_through_docker_py(prop_engine: Engine, images,  # type: ignore[no-untyped-def]
                                           host_dirs: HostDirs) -> None:
    import docker
    from docker.types import Mount

    client = prop_engine.client()
    mount = Mount("/b", host_dirs.shared, type="bind", propagation="rshared")
    with pytest.raises(docker.errors.APIError) as refused:
        client.containers.run(images.busybox, ["true"], mounts=[mount], name="pyshared")
    client.containers.get("pyshared").remove(force=True)
    assert "but it is not a shared mount" in str(refused.value)
    slave = Mount("/b", host_dirs.shared, type="bind", propagation="rslave")
    assert client.containers.run(images.busybox, ["true"], mounts=[slave], remove=True) == b""
