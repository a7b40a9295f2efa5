"""Volume copy-up as docker does it: a new volume over a non-empty image directory starts as its copy.

- named (-v name:/dst), anonymous (-v /dst), image VOLUME and --mount volumes are filled
  with owners (as the store's mapped ids), modes and symlinks kept; the volume's top
  takes the directory's owner and mode;
- nocopy (-v name:/dst:nocopy, --mount ...,volume-nocopy) leaves the volume empty;
- a volume that is not new (has content, or was mounted before) is never copied into;
- a symlink in the image naming a host directory is resolved inside the rootfs, as crun does;
- a daemon SIGKILLed mid copy-up leaves an empty volume that the next start fills.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile

import pytest

from tests import imagebuild
from tests.imagebuild import Layer, TarBuilder
from tests.integration.conftest import Engine, TestUser

CRASH_ENV = "ROOTLESS_TEST_CRASH_AT"
HOST_SECRET_DIR = "/tmp/rootless-copyup-host-dir"


@pytest.fixture(scope="module")
def copyup_image(registry, images) -> str:  # type: ignore[no-untyped-def]
    """busybox plus /srv/data (owned by 1000:1000, 0750) with files, a symlink and an escaping link."""
    tar = (TarBuilder().dir("srv", 0o755).dir("srv/data", 0o750, 1000, 1000)
           .file("srv/data/app.conf", b"port=80\n", 0o640, 1000, 1000)
           .dir("srv/data/sub", 0o700, 33, 33).file("srv/data/sub/deep", b"deep\n", 0o600, 33, 33)
           .symlink("srv/data/link", "app.conf")
           .symlink("srv/host", HOST_SECRET_DIR)  # a host directory's name; in the rootfs, the image's own
           .dir("tmp", 0o1777).dir(HOST_SECRET_DIR[1:]).file(HOST_SECRET_DIR[1:] + "/inner", b"image\n")
           .dir("srv/empty", 0o1777, 7, 7).bytes())
    layers = [images.busybox_layer, Layer(tar)]
    config = imagebuild.image_config(layers, extra={"Volumes": {"/srv/data": {}}})
    registry.client.push_image("busybox-copyup", "latest", layers, config)
    return f"{registry.host}/busybox-copyup:latest"


@pytest.fixture()
def pulled(engine: Engine, copyup_image: str) -> str:
    engine.docker("pull", "-q", copyup_image)
    return copyup_image


def _mountpoint(engine: Engine, volume: str) -> str:
    return str(json.loads(engine.docker("volume", "inspect", volume).stdout)[0]["Mountpoint"])


def _subid(user: TestUser) -> int:
    with open("/etc/subuid") as f:
        for line in f:
            name, start, _count = line.strip().split(":")
            if name == user.name:
                return int(start)
    raise AssertionError("no subuid range")


def test_named_volume_is_filled_with_owners_modes_and_links(engine: Engine, pulled: str) -> None:
    try:
        out = engine.docker("run", "--rm", "-v", "cu-named:/srv/data", pulled, "sh", "-c",
                            "stat -c '%n %u:%g %a' /srv/data /srv/data/app.conf /srv/data/sub /srv/data/sub/deep;"
                            " readlink /srv/data/link; cat /srv/data/link").stdout
        assert out.splitlines() == ["/srv/data 1000:1000 750", "/srv/data/app.conf 1000:1000 640",
                                    "/srv/data/sub 33:33 700", "/srv/data/sub/deep 33:33 600",
                                    "app.conf", "port=80"]
        # another container sees the volume's content wherever it mounts it
        assert engine.docker("run", "--rm", "-v", "cu-named:/x", pulled, "cat", "/x/sub/deep").stdout == "deep\n"
        # on the host the owners are the store's mapped ids: container uid 1000 is subuid start + 999
        data = _mountpoint(engine, "cu-named")
        info = os.stat(os.path.join(data, "app.conf"))
        assert info.st_uid == _subid(engine.user) + 999
    finally:
        engine.docker("volume", "rm", "-f", "cu-named", check=False)


def test_anonymous_and_image_volumes_are_filled(engine: Engine, pulled: str) -> None:
    assert engine.docker("run", "--rm", pulled, "cat", "/srv/data/app.conf").stdout == "port=80\n"  # VOLUME
    out = engine.docker("run", "--rm", "-v", "/srv/empty", pulled, "stat", "-c", "%u:%g %a", "/srv/empty").stdout
    assert out == "7:7 1777\n"  # an empty directory still gives the volume its owner and mode
    out = engine.docker("run", "--rm", "--mount", "type=volume,dst=/srv/data", pulled, "ls", "/srv/data").stdout
    assert out.split() == ["app.conf", "link", "sub"]


def test_nocopy_leaves_the_volume_empty(engine: Engine, pulled: str) -> None:
    try:
        assert engine.docker("run", "--rm", "-v", "cu-nocopy:/srv/data:nocopy", pulled,
                             "ls", "-A", "/srv/data").stdout == ""
        assert engine.docker("run", "--rm", "--mount", "type=volume,src=cu-nocopy2,dst=/srv/data,volume-nocopy",
                             pulled, "ls", "-A", "/srv/data").stdout == ""
        # no longer new: a later mount without nocopy does not fill it either (podman's NeedsCopyUp)
        assert engine.docker("run", "--rm", "-v", "cu-nocopy:/srv/data", pulled, "ls", "-A", "/srv/data").stdout == ""
    finally:
        engine.docker("volume", "rm", "-f", "cu-nocopy", "cu-nocopy2", check=False)


def test_a_volume_with_content_is_not_copied_into(engine: Engine, pulled: str, busybox: str) -> None:
    try:
        engine.docker("run", "--rm", "-v", "cu-full:/v", busybox, "sh", "-c", "echo mine > /v/own")
        out = engine.docker("run", "--rm", "-v", "cu-full:/srv/data", pulled, "ls", "-A", "/srv/data").stdout
        assert out == "own\n"
        engine.docker("volume", "create", "cu-created")  # volume create: new until its first mount
        out = engine.docker("run", "--rm", "-v", "cu-created:/srv/data", pulled, "ls", "/srv/data").stdout
        assert out.split() == ["app.conf", "link", "sub"]
    finally:
        engine.docker("volume", "rm", "-f", "cu-full", "cu-created", check=False)


def test_a_symlink_out_of_the_rootfs_resolves_inside_it(engine: Engine, pulled: str) -> None:
    os.makedirs(HOST_SECRET_DIR, exist_ok=True)
    with open(os.path.join(HOST_SECRET_DIR, "secret"), "w") as f:
        f.write("host\n")
    os.chmod(HOST_SECRET_DIR, 0o755)
    os.chmod(os.path.join(HOST_SECRET_DIR, "secret"), 0o644)
    try:
        out = engine.docker("run", "--rm", "-v", "cu-escape:/srv/host", pulled, "ls", "-A", "/srv/host").stdout
        assert out == "inner\n"
        assert os.listdir(_mountpoint(engine, "cu-escape")) == ["inner"]
    finally:
        engine.docker("volume", "rm", "-f", "cu-escape", check=False)
        os.unlink(os.path.join(HOST_SECRET_DIR, "secret"))
        os.rmdir(HOST_SECRET_DIR)


@pytest.mark.parametrize("point", ["volume-copyup:mid-copy", "volume-copyup:before-rename",
                                   "volume-copyup:before-record"])
def test_a_daemon_killed_mid_copy_up_leaves_a_volume_the_next_start_fills(fresh_engine: Engine,
                                                                          copyup_image: str, point: str) -> None:
    fresh_engine.stop()
    fresh_engine.cli("info", env={CRASH_ENV: point})
    fresh_engine.docker("pull", "-q", copyup_image, timeout=180)
    fresh_engine.docker("create", "--name", "cu-crash", "-v", "cu-crash:/srv/data", copyup_image, "ls", "/srv/data")
    result = fresh_engine.docker("start", "-a", "cu-crash", check=False)
    assert result.returncode != 0
    fresh_engine.cli("info")  # a new daemon, without the crash point
    data = _mountpoint(fresh_engine, "cu-crash")
    left = sorted(os.listdir(data))  # empty, or full: never half
    assert left == ([] if point != "volume-copyup:before-record" else ["app.conf", "link", "sub"])
    assert fresh_engine.docker("start", "-a", "cu-crash").stdout.split() == ["app.conf", "link", "sub"]
    volume_dir = os.path.dirname(data)
    assert not [n for n in os.listdir(volume_dir) if n.startswith(".copyup-")]


def test_copy_up_for_a_keep_id_container_keeps_the_owners_it_sees(engine: Engine, pulled: str) -> None:
    """The rootfs of a keep-id container shows the image's owners; its new volume shows the same ones."""
    try:
        out = engine.cli("run", "--rm", "--userns=keep-id", "--user", "0", "-v", "cu-keepid:/srv/data", pulled,
                         "stat", "-c",
                         "%u:%g %a", "/srv/data", "/srv/data/app.conf", "/srv/data/sub/deep").stdout
        assert out.splitlines() == ["1000:1000 750", "1000:1000 640", "33:33 600"]
    finally:
        engine.docker("volume", "rm", "-f", "cu-keepid", check=False)


def test_compose_named_volume_is_filled_from_the_image(engine: Engine, pulled: str) -> None:
    """docker-compose 1.29: a service's named volume over an image directory starts with its content."""
    compose = shutil.which("docker-compose") or "/usr/bin/docker-compose"
    if not os.path.exists(compose):
        pytest.skip("docker-compose is not installed (setup-host.sh --tests installs it)")
    context = tempfile.mkdtemp(prefix="copyup-compose-", dir="/tmp")
    os.chmod(context, 0o755)
    with open(os.path.join(context, "docker-compose.yml"), "w") as f:
        f.write(f"""version: '2.1'
services:
  app:
    image: {pulled}
    command: cat /srv/data/app.conf
    volumes: ["appdata:/srv/data"]
volumes:
  appdata: {{}}
""")
    args = [compose, "-p", "cuproj", "-f", os.path.join(context, "docker-compose.yml")]
    try:
        engine.user.run([*args, "up", "--no-color"], env=engine.env, timeout=120)
        assert engine.docker("logs", "cuproj_app_1").stdout == "port=80\n"
        out = engine.docker("run", "--rm", "-v", "cuproj_appdata:/v", pulled, "ls", "/v").stdout
        assert out.split() == ["app.conf", "link", "sub"]
    finally:
        engine.user.run([*args, "down", "-v", "-t", "1"], env=engine.env, timeout=120, check=False)
        shutil.rmtree(context, ignore_errors=True)
