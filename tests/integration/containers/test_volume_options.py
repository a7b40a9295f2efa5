"""Volume options that must be applied, or refused, never stored and silently dropped.

- --mount type=tmpfs with tmpfs-size and tmpfs-mode: the container sees that size and mode;
- volume create --opt type=tmpfs (o=size=...): a tmpfs of that size, shared by the containers
  using the volume; --opt type=none,o=bind,device=DIR: the container writes into DIR;
- other local-driver options (nfs, a block device): refused at create with a reason;
- --volumes-from CONTAINER[:ro|rw]: the other container's volumes and binds, mode override,
  an unknown container refused.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from tests.integration.conftest import Engine


def _df_kib(engine: Engine, *args: str) -> int:
    out = engine.docker("run", "--rm", *args).stdout.splitlines()
    return int(out[-1].split()[1])


def test_mount_tmpfs_size_and_mode_are_applied(engine: Engine, busybox: str) -> None:
    out = engine.docker("run", "--rm", "--mount", "type=tmpfs,dst=/t,tmpfs-size=5m,tmpfs-mode=1770", busybox,
                        "sh", "-c", "stat -c %a /t; df -k /t | tail -1").stdout.splitlines()
    assert out[0] == "1770"
    assert int(out[1].split()[1]) == 5 * 1024
    assert _df_kib(engine, "--tmpfs", "/u:size=3m", busybox, "df", "-k", "/u") == 3 * 1024


def test_tmpfs_volume_is_a_tmpfs_of_its_size_shared_by_its_containers(engine: Engine, busybox: str) -> None:
    engine.docker("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=4m,mode=0770",
                  "vo-tmpfs")
    try:
        out = engine.docker("run", "--rm", "-v", "vo-tmpfs:/t", busybox, "sh", "-c",
                            "echo shared > /t/f; stat -c %a /t; df -k /t | tail -1; grep ' /t ' /proc/mounts"
                            ).stdout.splitlines()
        assert out[0] == "770" and int(out[1].split()[1]) == 4 * 1024 and " tmpfs " in out[2]
        assert engine.docker("run", "--rm", "-v", "vo-tmpfs:/t", busybox, "cat", "/t/f").stdout == "shared\n"
    finally:
        engine.docker("volume", "rm", "vo-tmpfs")
    # the data lived on the tmpfs, not in the store: nothing left on disk after rm
    engine.docker("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "vo-tmpfs")
    try:
        assert engine.docker("run", "--rm", "-v", "vo-tmpfs:/t", busybox, "ls", "-A", "/t").stdout == ""
    finally:
        engine.docker("volume", "rm", "vo-tmpfs")


@pytest.fixture()
def host_dir(engine: Engine):  # type: ignore[no-untyped-def]
    path = tempfile.mkdtemp(prefix="rootless-bindvol-", dir="/tmp")
    os.chown(path, engine.user.uid, engine.user.gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_bind_volume_writes_into_its_device(engine: Engine, busybox: str, host_dir: str) -> None:
    engine.docker("volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", f"device={host_dir}",
                  "vo-bind")
    try:
        engine.docker("run", "--rm", "-v", "vo-bind:/b", busybox, "sh", "-c", "echo hi > /b/out")
        with open(os.path.join(host_dir, "out")) as f:
            assert f.read() == "hi\n"
        assert os.stat(os.path.join(host_dir, "out")).st_uid == engine.user.uid  # container root = the user
    finally:
        engine.docker("volume", "rm", "vo-bind")
    assert os.listdir(host_dir) == ["out"]  # volume rm leaves the user's directory alone


def test_bind_volume_with_ro_is_read_only(engine: Engine, busybox: str, host_dir: str) -> None:
    engine.docker("volume", "create", "--opt", "type=none", "--opt", "o=bind,ro", "--opt", f"device={host_dir}",
                  "vo-bind-ro")
    try:
        result = engine.docker("run", "--rm", "-v", "vo-bind-ro:/b", busybox, "touch", "/b/x", check=False)
        assert result.returncode != 0 and "Read-only file system" in result.stderr
    finally:
        engine.docker("volume", "rm", "vo-bind-ro")


@pytest.mark.parametrize("opts,message", [
    (["type=nfs", "o=addr=10.0.0.1,rw", "device=:/export"], "can't be mounted by an unprivileged user"),
    (["type=ext4", "device=/dev/sdb1"], "can't be mounted by an unprivileged user"),
    (["type=none", "o=bind", "device=/no/such/dir"], "device /no/such/dir: no such directory"),
])
def test_options_that_can_not_be_applied_are_refused_and_not_stored(engine: Engine, opts, message) -> None:  # type: ignore[no-untyped-def]
    argv = [arg for opt in opts for arg in ("--opt", opt)]
    result = engine.docker("volume", "create", *argv, "vo-refused", check=False)
    assert result.returncode != 0 and message in result.stderr
    assert "vo-refused" not in engine.docker("volume", "ls", "-q").stdout.split()


def test_volumes_from_gives_the_other_containers_mounts(engine: Engine, busybox: str, host_dir: str) -> None:
    engine.docker("create", "--name", "vf-source", "-v", "vf-named:/named", "-v", "/anon",
                  "-v", f"{host_dir}:/bound", busybox, "true")
    try:
        engine.docker("run", "--rm", "-v", "vf-named:/n", busybox, "sh", "-c", "echo named > /n/f")
        out = engine.docker("run", "--rm", "--volumes-from", "vf-source", busybox, "sh", "-c",
                            "cat /named/f; echo anon > /anon/g; echo bound > /bound/h").stdout
        assert out == "named\n"
        with open(os.path.join(host_dir, "h")) as f:
            assert f.read() == "bound\n"
        out = engine.docker("run", "--rm", "--volumes-from", "vf-source:ro", busybox, "sh", "-c",
                            "cat /anon/g; touch /named/x 2>&1; touch /bound/x 2>&1; true").stdout
        assert out.splitlines()[0] == "anon" and out.count("Read-only file system") == 2
        client = engine.client()  # docker-py: HostConfig.VolumesFrom
        logs = client.containers.run(busybox, ["cat", "/named/f"], volumes_from=["vf-source:rw"], remove=True)
        client.close()
        assert logs == b"named\n"
        result = engine.docker("run", "--rm", "--volumes-from", "vf-no-such", busybox, "true", check=False)
        assert result.returncode != 0 and "vf-no-such" in result.stderr
    finally:
        engine.docker("rm", "-v", "vf-source")
        engine.docker("volume", "rm", "vf-named")


def test_volumes_from_in_our_cli(engine: Engine, busybox: str) -> None:
    engine.cli("create", "--name", "vf-cli-source", "-v", "vf-cli:/data", busybox, "true")
    try:
        engine.cli("run", "--rm", "--volumes-from", "vf-cli-source", busybox, "sh", "-c", "echo x > /data/y")
        out = engine.cli("run", "--rm", "--volumes-from", "vf-cli-source:ro", busybox, "cat", "/data/y").stdout
        assert out == "x\n"
    finally:
        engine.cli("rm", "-v", "vf-cli-source")
        engine.cli("volume", "rm", "vf-cli")


def test_volumes_from_is_resolved_once_at_create(engine: Engine, busybox: str) -> None:
    """As docker: the consumer keeps its mounts after the source container is removed."""
    engine.docker("create", "--name", "vf-once-src", "-v", "vf-once:/data", busybox, "true")
    engine.docker("create", "--name", "vf-once-user", "--volumes-from", "vf-once-src", busybox,
                  "sh", "-c", "echo kept > /data/f; cat /data/f")
    try:
        engine.docker("rm", "vf-once-src")
        assert engine.docker("start", "-a", "vf-once-user").stdout == "kept\n"
        mounts = engine.docker("inspect", "-f", "{{range .Mounts}}{{.Name}} {{.Destination}}{{end}}",
                               "vf-once-user").stdout.strip()
        assert mounts == "vf-once /data"
        result = engine.docker("volume", "rm", "vf-once", check=False)
        assert result.returncode != 0 and "volume is in use" in result.stderr
    finally:
        engine.docker("rm", "-f", "-v", "vf-once-user", check=False)
        engine.docker("volume", "rm", "-f", "vf-once", check=False)
