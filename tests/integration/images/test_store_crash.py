"""The image store under a daemon killed while deleting, a full disk and a decompression bomb.

- rmi with the daemon SIGKILLed at each step of the deletion (ROOTLESS_TEST_CRASH_AT):
  after a restart the pull succeeds and nothing is left over.
- docker load of an image the store has, rmi of the loaded tag, GC: pulling another
  tag sharing the layer works and a push sends the pulled manifest.
- a storage root on a small tmpfs: a pull that fills it fails with a message naming
  the filesystem and leaves no blob, ingest or temp dir behind.
- a gzip bomb layer stops at the storage reserve and its partial layer is removed.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List

import pytest
import requests

from tests import imagebuild
from tests.imagebuild import Layer, TarBuilder
from tests.integration.conftest import Engine, TestUser, kill_engine_processes, make_engine

CRASH_ENV = "ROOTLESS_TEST_CRASH_AT"
RMI_CRASH_POINTS = ["rmi:after-record-removed", "gc:after-journal", "gc:after-layer-trashed",
                    "gc:after-blob-unlinked", "gc:mid-trash-empty"]


def has_exited(pid: int, timeout: float = 10.0) -> bool:
    """Whether pid is gone or a zombie within timeout (the client sees the socket close while it exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def leftovers(root: str) -> Dict[str, List[str]]:
    """Everything an empty store must not have: blobs, ingests, layers, trash, image records."""
    layers = os.path.join(root, "layers")
    trash = os.path.join(layers, ".trash")
    index = os.path.join(root, "images", "index.json")
    records: List[str] = []
    if os.path.exists(index):
        with open(index) as f:
            records = list(json.load(f).get("images", {}))
    return {"blobs": os.listdir(os.path.join(root, "blobs", "sha256")),
            "ingest": os.listdir(os.path.join(root, "ingest")),
            "layers": [n for n in os.listdir(layers) if n != ".trash"],
            "trash": os.listdir(trash) if os.path.isdir(trash) else [],
            "images": records}


NOTHING: Dict[str, List[str]] = {"blobs": [], "ingest": [], "layers": [], "trash": [], "images": []}


def start_daemon(engine: Engine, env: Dict[str, str]) -> None:
    """(Re)start the engine's daemon with env added to its environment."""
    engine.stop()
    engine.cli("info", env=env)


@pytest.mark.parametrize("point", RMI_CRASH_POINTS)
def test_rmi_killed_at_each_step_then_restart(fresh_engine: Engine, images: imagebuild.TestImages,
                                              point: str) -> None:
    image = images.layered
    start_daemon(fresh_engine, {CRASH_ENV: point})
    fresh_engine.cli("pull", image, timeout=180)
    pid = fresh_engine.daemon_pid()
    result = fresh_engine.cli("rmi", image, check=False)
    assert result.returncode != 0 and has_exited(pid), f"the daemon did not die at {point}: {result.stdout}"
    fresh_engine.cli("info")  # a new daemon without the hook: recovers at start
    state = leftovers(fresh_engine.root)
    assert state["trash"] == [] and not os.path.exists(os.path.join(fresh_engine.root, "layers", ".trash",
                                                                    "journal.json"))
    out = fresh_engine.cli("pull", image, timeout=180).stdout
    assert f"Downloaded newer image for {image}" in out
    listing = fresh_engine.cli("run", "--rm", image, "ls", "/data", "/opq").stdout.split()
    assert listing == ["/data:", "a-link", "b", "/opq:", "z"]
    fresh_engine.cli("rmi", image)
    assert leftovers(fresh_engine.root) == NOTHING


def test_a_layer_half_deleted_by_an_older_version_is_repaired(fresh_engine: Engine,
                                                              images: imagebuild.TestImages) -> None:
    """Was: '[Errno 39] Directory not empty: .tmp-... -> layers/<id>' on every pull until image prune."""
    fresh_engine.cli("pull", images.busybox)
    fresh_engine.stop()
    layers = os.path.join(fresh_engine.root, "layers")
    [chain] = [n for n in os.listdir(layers) if len(n) == 64]
    os.unlink(os.path.join(layers, chain, "meta.json"))  # rmtree killed half-way, as old rmi did
    shutil.rmtree(os.path.join(layers, chain, "diff", "etc"))
    fresh_engine.cli("pull", images.busybox)  # the daemon restarts and recovers
    assert fresh_engine.cli("run", "--rm", images.busybox, "cat", "/etc/group").stdout.startswith("root:x:0:")


# -- load of an image the store has ---------------------------------------------------------------
def registry_get(registry_host: str, path: str, accept: str = "") -> requests.Response:
    response = requests.get(f"http://{registry_host}/v2/{path}", headers={"Accept": accept} if accept else {},
                            timeout=30)
    response.raise_for_status()
    return response


def podman_style_archive(config: bytes, layer: Layer, tag: str) -> bytes:
    """A docker-archive as `podman save` writes it: plain layer tars, no manifest, no index.json."""
    config_name = imagebuild.sha256(config)[7:] + ".json"
    layer_name = layer.diff_id[7:] + ".tar"
    files = {config_name: config, layer_name: layer.tar,
             "manifest.json": json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]).encode()}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def user_file(user: TestUser) -> Iterator[Callable[[bytes], str]]:
    directory = tempfile.mkdtemp(prefix="rootless-store-")
    os.chmod(directory, 0o755)

    def write(data: bytes) -> str:
        path = os.path.join(directory, f"{len(os.listdir(directory))}.tar")
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
        return path
    yield write
    shutil.rmtree(directory, ignore_errors=True)


def test_load_of_a_present_image_then_rmi_gc_pull_push(fresh_engine: Engine, registry, images,  # type: ignore[no-untyped-def]
                                                       user_file) -> None:
    """Was: load replaced the pulled record with the archive's plain layers; after rmi of the loaded tag
    and a GC the pulled blob was gone: 'can't add image: blob sha256:... is not in the store' for good."""
    host = registry.host
    fresh_engine.cli("pull", images.busybox)
    inspect = json.loads(fresh_engine.cli("image", "inspect", images.busybox).stdout)[0]
    pulled_digest = inspect["RepoDigests"][0].split("@")[1]
    config = registry_get(host, f"busybox/blobs/{inspect['Id']}").content
    archive = user_file(podman_style_archive(config, images.busybox_layer, "loaded:1"))
    fresh_engine.cli("load", "-i", archive)
    fresh_engine.cli("rmi", "loaded:1")
    fresh_engine.cli("image", "prune", "-f")
    shared = [images.busybox_layer]
    registry.client.push_image("sharing", "1", shared, imagebuild.image_config(shared, cmd=["echo", "shared"]))
    fresh_engine.cli("pull", f"{host}/sharing:1")
    assert fresh_engine.cli("run", "--rm", f"{host}/sharing:1").stdout == "shared\n"
    fresh_engine.cli("tag", images.busybox, f"{host}/copy:1")
    fresh_engine.cli("push", f"{host}/copy:1")
    pushed = registry_get(host, "copy/manifests/1", imagebuild.DOCKER_MANIFEST).headers["Docker-Content-Digest"]
    assert pushed == pulled_digest


def test_a_layer_unpacked_from_a_loaded_image_does_not_stop_a_pull(fresh_engine: Engine, registry, images,  # type: ignore[no-untyped-def]
                                                                  user_file) -> None:
    """The loaded image's layer blob is the plain tar; a pull of the same layer needs the gzip blob too."""
    host = registry.host
    config = imagebuild.image_config([images.busybox_layer], cmd=["echo", "loaded"])
    fresh_engine.cli("load", "-i", user_file(podman_style_archive(config, images.busybox_layer, "loaded:2")))
    assert fresh_engine.cli("run", "--rm", "loaded:2").stdout == "loaded\n"  # unpacks the layer
    out = fresh_engine.cli("pull", images.busybox).stdout
    assert f"Downloaded newer image for {images.busybox}" in out
    assert fresh_engine.cli("run", "--rm", images.busybox, "echo", "ok").stdout == "ok\n"
    fresh_engine.cli("tag", images.busybox, f"{host}/copy:2")
    fresh_engine.cli("push", f"{host}/copy:2")


# -- small disks ------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(user: TestUser) -> Iterator[Callable[[str, str], Engine]]:
    """An engine whose storage root is a tmpfs of the given size, with storage_reserve set."""
    made: List[Engine] = []

    def make(size: str, reserve: str) -> Engine:
        base = tempfile.mkdtemp(prefix="rootless-small-", dir="/tmp")
        engine = make_engine(user, base)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700,uid={user.uid},gid={user.gid}",
                        "tmpfs", engine.root], check=True)
        made.append(engine)
        config_dir = os.path.join(engine.config_home, "rootless")
        os.makedirs(config_dir)
        with open(os.path.join(config_dir, "config.toml"), "w") as f:
            f.write(f'storage_reserve = "{reserve}"\n')
        for path in (config_dir, os.path.join(config_dir, "config.toml")):
            os.chown(path, user.uid, user.gid)
        return engine

    yield make
    for engine in made:
        engine.stop()
        kill_engine_processes(engine.run_dir)
        subprocess.run(["umount", "-l", engine.root], check=False)
        shutil.rmtree(os.path.dirname(engine.root), ignore_errors=True)


def free_bytes(path: str) -> int:
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


def assert_nothing_left(engine: Engine, size: int) -> None:
    assert leftovers(engine.root) == NOTHING
    assert free_bytes(engine.root) > size - (1 << 20), "the failed pull still holds space"


def test_a_pull_or_load_that_fills_the_disk_names_it_and_leaves_nothing(small_disk, registry, images,  # type: ignore[no-untyped-def]
                                                                        user_file) -> None:
    size = 24 << 20
    engine = small_disk("24m", "0")
    engine.cli("info")
    # Random data does not compress: a 32 MiB blob cannot be stored, a 14 MiB one cannot be unpacked too.
    for name, megabytes in (("toobig", 32), ("fits-packed", 14)):
        layers = [images.busybox_layer, Layer(TarBuilder().file("big.bin", os.urandom(megabytes << 20)).bytes())]
        registry.client.push_image(name, "1", layers, imagebuild.image_config(layers))
        result = engine.cli("pull", f"{registry.host}/{name}:1", check=False, timeout=180)
        assert result.returncode == 1, result.stdout
        assert re.search(rf"can't (store blob|unpack layer) sha256:[0-9a-f]{{64}}: no space left on device "
                         rf"on {re.escape(engine.root)}[\n ]", result.stderr), result.stdout + result.stderr
        assert "internal error" not in result.stdout + result.stderr
        assert_nothing_left(engine, size)
    big = Layer(TarBuilder().file("big.bin", os.urandom(32 << 20)).bytes())
    config = imagebuild.image_config([big])
    result = engine.cli("load", "-i", user_file(podman_style_archive(config, big, "big:1")), check=False)
    assert result.returncode == 1
    assert f"can't store blob: no space left on device on {engine.root}\n" in result.stderr, result.stderr
    assert_nothing_left(engine, size)
    engine.cli("pull", images.busybox)  # the store is fine
    assert engine.cli("run", "--rm", images.busybox, "echo", "ok").stdout == "ok\n"


@dataclass
class Bomb:
    """A gzip layer of a tar of zeros (imagebuild.Layer's fields; built streaming, never in memory)."""

    blob: bytes
    diff_id: str
    digest: str


def gzip_bomb(files: int, each: int) -> Bomb:
    tar_hash = hashlib.sha256()
    gzip = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts: List[bytes] = []

    def emit(data: bytes) -> None:
        tar_hash.update(data)
        parts.append(gzip.compress(data))

    zeros = bytes(1 << 20)
    for index in range(files):
        info = tarfile.TarInfo(f"zero{index}")
        info.size, info.mode = each, 0o644
        emit(info.tobuf(format=tarfile.PAX_FORMAT))
        for _ in range(each // len(zeros)):
            emit(zeros)
    emit(bytes(2 * tarfile.BLOCKSIZE))  # end of archive (each is a multiple of the block size)
    parts.append(gzip.flush())
    blob = b"".join(parts)
    return Bomb(blob, "sha256:" + tar_hash.hexdigest(), imagebuild.sha256(blob))


@pytest.mark.parametrize("files, each", [(1, 256 << 20), (40, 4 << 20)], ids=["one-huge-file", "many-files"])
def test_a_gzip_bomb_stops_at_the_storage_reserve(small_disk, registry, images, files: int,  # type: ignore[no-untyped-def]
                                                  each: int) -> None:
    size = 64 << 20
    engine = small_disk("64m", "8M")
    bomb = gzip_bomb(files, each)
    assert len(bomb.blob) < 2 << 20  # 160-256 MiB of files from a blob under 2 MiB
    layers = [images.busybox_layer, bomb]
    name = f"bomb-{files}"
    registry.client.push_image(name, "1", layers, imagebuild.image_config(layers))  # type: ignore[arg-type]
    result = engine.cli("pull", f"{registry.host}/{name}:1", check=False, timeout=180)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"can't unpack layer {bomb.digest}: " in output
    assert re.search(rf"would leave less than the storage reserve \(8\.389MB\) free on {re.escape(engine.root)}\n",
                     output), output
    assert_nothing_left(engine, size)
    engine.cli("pull", images.busybox)
