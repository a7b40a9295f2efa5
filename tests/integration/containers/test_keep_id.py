"""--userns=keep-id (podman's): the user's ids inside the container, files in $HOME stay the user's.

The default mapping (container root = the user) is unchanged; with keep-id the
process runs as the user's uid and gid, what it writes into a bind mount of the
user's home belongs to the user on the host, and the image's files keep their
owners (root's files are root's, not the user's).

The docker CLI refuses --userns values other than host (its own check), so keep-id
goes through our CLI and docker-py (HostConfig.UsernsMode), as podman's users pass it.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from tests.integration.conftest import Engine


@pytest.fixture()
def home_dir(engine: Engine):  # type: ignore[no-untyped-def]
    path = tempfile.mkdtemp(prefix="keepid-", dir=engine.user.home)
    os.chown(path, engine.user.uid, engine.user.gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_keep_id_runs_as_the_user_and_writes_files_the_user_owns(engine: Engine, busybox: str,
                                                                 home_dir: str) -> None:
    uid, gid = engine.user.uid, engine.user.gid
    out = engine.cli("run", "--rm", "--userns=keep-id", "-v", f"{home_dir}:/work", busybox, "sh", "-c",
                        "id -u; id -g; echo result > /work/out; mkdir /work/d; stat -c '%u:%g' /work /bin/sh /;"
                        " grep \"^$(id -un):\" /etc/passwd | cut -d: -f3,4").stdout.split()
    assert out[:2] == [str(uid), str(gid)]
    assert out[2] == f"{uid}:{gid}"  # the user's directory is the user's inside too
    assert out[3:5] == ["0:0", "0:0"]  # the image's root files stay root's
    assert out[5] == f"{uid}:{gid}"  # podman's passwd entry for the user
    for name in ("out", "d"):
        info = os.stat(os.path.join(home_dir, name))
        assert (info.st_uid, info.st_gid) == (uid, gid)


def test_default_mapping_is_unchanged(engine: Engine, busybox: str, home_dir: str) -> None:
    out = engine.docker("run", "--rm", "-v", f"{home_dir}:/work", busybox, "sh", "-c",
                        "id -u; echo x > /work/root-file").stdout.split()
    assert out == ["0"]
    assert os.stat(os.path.join(home_dir, "root-file")).st_uid == engine.user.uid  # container root = the user


def test_keep_id_with_explicit_ids_and_user(engine: Engine, busybox: str, home_dir: str) -> None:
    out = engine.cli("run", "--rm", "--userns=keep-id:uid=1000,gid=1000", "-v", f"{home_dir}:/work", busybox,
                        "sh", "-c", "id -u; touch /work/f").stdout.split()
    assert out == ["1000"]
    info = os.stat(os.path.join(home_dir, "f"))
    assert (info.st_uid, info.st_gid) == (engine.user.uid, engine.user.gid)
    out = engine.cli("run", "--rm", "--userns=keep-id", "--user", "0", busybox, "sh", "-c",
                        "id -u; touch /root-can-write && echo ok").stdout.split()
    assert out == ["0", "ok"]


def test_keep_id_exec_and_docker_py(engine: Engine, busybox: str, home_dir: str) -> None:
    engine.cli("run", "-d", "--name", "keepid-exec", "--userns", "keep-id", busybox, "sleep", "300")
    try:
        assert engine.docker("exec", "keepid-exec", "id", "-u").stdout.strip() == str(engine.user.uid)
    finally:
        engine.docker("rm", "-f", "keepid-exec")
    client = engine.client()  # docker-py checks userns_mode itself: the raw HostConfig, as podman's users send it
    try:
        created = client.api.create_container(busybox, ["id", "-u"], host_config={"UsernsMode": "keep-id"})
        client.api.start(created["Id"])
        assert client.api.wait(created["Id"])["StatusCode"] == 0
        out = client.api.logs(created["Id"])
        client.api.remove_container(created["Id"])
    finally:
        client.close()
    assert out.decode().strip() == str(engine.user.uid)


def test_keep_id_in_our_cli_and_host_refused(engine: Engine, busybox: str) -> None:
    out = engine.cli("run", "--rm", "--userns", "keep-id", busybox, "id", "-u").stdout
    assert out.strip() == str(engine.user.uid)
    result = engine.docker("run", "--rm", "--userns=host", busybox, "true", check=False)
    assert result.returncode != 0 and "UsernsMode" in result.stderr and "no host user namespace" in result.stderr


def test_keep_id_container_has_its_network(engine: Engine, busybox: str) -> None:
    """The default bridge's veth reaches into a network namespace that the nested user namespace owns."""
    out = engine.cli("run", "--rm", "--userns=keep-id", busybox, "sh", "-c",
                     "ip -o -4 addr show | grep -v ' lo ' | wc -l; hostname -i").stdout.split()
    gateway = engine.docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "bridge").stdout
    assert out[0] == "1" and out[1].split(".")[:2] == gateway.strip().split(".")[:2], (out, gateway)
