"""Issue 15: images as single squashfs files, a shared read-only site image store, keep-id in Slurm jobs.

The site store lives on a filesystem that rejects subordinate ids: root's
bindfs mount with --chown-deny (the stand-in for NFS/Lustre that
test_hpc_storage.py uses too), in a directory owned by root, mode 0755, that
the test user can't write. The squashfs holds in-container ids; squashfuse
mounted inside the daemon's user namespace shows them through the mapping.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from typing import Iterator

import pytest

from tests.integration.conftest import Engine, TestUser

pytestmark = pytest.mark.timeout(300)


def _need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (contrib/setup-host.sh --tests)")


@pytest.fixture()
def site_dir(user: TestUser) -> Iterator[str]:
    """A root-owned 0755 dir on a bindfs mount that refuses chown (like NFS for subordinate ids)."""
    _need("bindfs", "mksquashfs", "squashfuse", "unsquashfs")
    base = tempfile.mkdtemp(prefix="rootless-site-", dir="/tmp")
    source, mount = os.path.join(base, "source"), os.path.join(base, "mnt")
    os.makedirs(os.path.join(source, "images"), mode=0o755)
    os.chmod(os.path.join(source, "images"), 0o755)
    os.mkdir(mount)
    os.chmod(base, 0o755)
    subprocess.run(["bindfs", "--chown-deny", "--chgrp-deny", "-o", "allow_other", source, mount], check=True)
    try:
        yield os.path.join(mount, "images")
    finally:
        subprocess.run(["fusermount", "-u", "-z", mount], check=False)
        shutil.rmtree(base, ignore_errors=True)


def _export(engine: Engine, image: str, directory: str) -> str:
    """The user exports into a dir of theirs; root then installs the file (the admin's step)."""
    out_dir = tempfile.mkdtemp(prefix="rootless-export-", dir="/tmp")
    os.chown(out_dir, engine.user.uid, engine.user.gid)
    out = os.path.join(out_dir, "image.sqfs")
    engine.cli("pull", "-q", image)
    engine.cli("image", "export", "--format", "squashfs", image, "-o", out, timeout=300)
    target = os.path.join(directory, "layered.sqfs")
    shutil.copyfile(out, target)
    os.chmod(target, 0o644)
    shutil.rmtree(out_dir)
    return target


def _listing(path: str) -> str:
    return subprocess.run(["unsquashfs", "-lln", path], check=True, capture_output=True, text=True).stdout


def _owner_of(listing: str, name: str) -> str:
    for line in listing.splitlines():
        if line.endswith(" squashfs-root/rootfs/" + name):
            return line.split()[1]
    raise AssertionError(f"{name} not in the squashfs:\n{listing}")


def test_export_squashfs_is_the_flattened_rootfs_with_image_ids_and_config(
        engine: Engine, images: object, site_dir: str) -> None:
    layered = images.layered  # type: ignore[attr-defined]
    path = _export(engine, layered, site_dir)
    listing = _listing(path)
    names = {line.split()[-1] for line in listing.splitlines() if "squashfs-root" in line}
    assert "squashfs-root/rootfs/data/b" in names and "squashfs-root/image.json" in names
    assert "squashfs-root/rootfs/data/a" not in names  # the third layer's whiteout applied
    assert "squashfs-root/rootfs/opq/z" in names and "squashfs-root/rootfs/opq/x" not in names  # opaque dir
    assert not any(".wh." in n for n in names)
    assert _owner_of(listing, "owned") == "1000/1000"  # in-container ids, not host subordinate ones
    assert _owner_of(listing, "bin/busybox") == "0/0"
    assert any(line.startswith("drwxr-xr-x 0/0") and line.endswith(" squashfs-root") for line in listing.splitlines())
    root_line = next(line for line in listing.splitlines() if line.endswith(" squashfs-root/rootfs"))
    assert root_line.startswith("drwxr-xr-x 0/0"), root_line  # the image's root, not a staging dir's 0700
    meta = json.loads(subprocess.run(["unsquashfs", "-cat", path, "image.json"], check=True,
                                     capture_output=True).stdout)
    inspect = json.loads(engine.cli("image", "inspect", layered).stdout)[0]
    assert meta["imageId"] == inspect["Id"] and meta["rootlessSquashfs"] == 1
    assert meta["config"]["config"]["Cmd"] == ["ls", "/data"]


def _site_env(site_dir: str) -> dict:
    return {"ROOTLESS_ADDITIONAL_IMAGE_STORES": site_dir}


def test_site_store_images_run_from_squashfs_read_only_and_unshared(
        engine: Engine, fresh_engine: Engine, images: object, site_dir: str) -> None:
    layered = images.layered  # type: ignore[attr-defined]
    _export(engine, layered, site_dir)
    env = _site_env(site_dir)
    listed = fresh_engine.cli("images", env=env).stdout
    assert "R/O" in listed and "true" in listed, listed
    summary = [s for s in fresh_engine.client().api.images() if s.get("ReadOnly")]
    assert len(summary) == 1 and summary[0]["RepoTags"]
    # Runs without a pull: the squashfs is the lower dir, nothing lands in the user's store.
    out = fresh_engine.cli("run", "--rm", layered, env=env).stdout.split()
    assert out == ["a-link", "b"], out
    script = "id -u; stat -c %u /bin/busybox; stat -c %u:%g /owned; touch /data/new && ls /data | tr '\\n' ,"
    ids = fresh_engine.cli("run", "--rm", layered, "sh", "-c", script, env=env).stdout.split()
    assert ids == ["0", "0", "1000:1000", "a-link,b,new,"], ids
    assert fresh_engine.cli("run", "--rm", "--user", "1000", layered, "cat", "/data/b", env=env).stdout == "b\n"
    assert fresh_engine.docker("run", "--rm", layered, "cat", "/opq/z", env=env).stdout == "z\n"  # docker's CLI too
    layers = os.path.join(fresh_engine.root, "layers")
    assert not [n for n in (os.listdir(layers) if os.path.isdir(layers) else []) if not n.startswith(".")]
    # keep-id (and a Slurm job's default of it) on site images: test_hpc_squashfs_keepid.py
    refused = fresh_engine.cli("rmi", layered, check=False, env=env)
    assert refused.returncode != 0 and "read-only additional image store" in refused.stderr, refused.stderr
    for verb in (["tag", layered, "other:1"], ["save", "-o", "/dev/null", layered]):
        refused = fresh_engine.cli(*verb, check=False, env=env)
        assert "read-only additional image store" in refused.stderr, (verb, refused.stderr)
    # The user's own pull goes to the user's store; that copy is theirs to remove.
    fresh_engine.cli("pull", "-q", layered, env=env)
    mine = [s for s in fresh_engine.client().api.images() if layered.split("/", 1)[1] in str(s["RepoTags"])]
    assert len(mine) == 1 and not mine[0].get("ReadOnly"), mine
    assert [n for n in os.listdir(layers) if not n.startswith(".")]
    fresh_engine.cli("rmi", layered, env=env)
    assert "true" in fresh_engine.cli("images", env=env).stdout


def _restart(engine: Engine) -> None:
    engine.stop()


def test_site_image_container_starts_again_after_the_namespace_is_gone(
        engine: Engine, fresh_engine: Engine, images: object, site_dir: str) -> None:
    layered = images.layered  # type: ignore[attr-defined]
    _export(engine, layered, site_dir)
    env = _site_env(site_dir)
    name = fresh_engine.cli("create", layered, "cat", "/data/b", env=env).stdout.strip()
    _restart(fresh_engine)  # daemon, pause process and with them every squashfuse mount gone
    assert fresh_engine.cli("start", "-a", name, env=env).stdout == "b\n"
    refused = fresh_engine.cli("commit", name, "mine", env=env, check=False)
    assert refused.returncode != 0 and "read-only additional image store" in refused.stderr, refused.stderr
    fresh_engine.cli("rm", name, env=env)


def test_site_store_other_users_could_write_is_refused(
        engine: Engine, fresh_engine: Engine, images: object, site_dir: str) -> None:
    layered = images.layered  # type: ignore[attr-defined]
    path = _export(engine, layered, site_dir)
    env = _site_env(site_dir)
    os.chmod(site_dir, 0o777)  # any local user could swap the image
    info = json.loads(fresh_engine.cli("info", "--format", "json", env=env).stdout)
    assert any("refused" in w and "lets other users write it" in w for w in info["Warnings"]), info["Warnings"]
    assert "true" not in fresh_engine.cli("images", env=env).stdout
    _restart(fresh_engine)
    os.chmod(site_dir, 0o755)
    # A file another user owns (and can rewrite); bindfs refuses chown, the source takes it.
    os.chown(path.replace("/mnt/images/", "/source/images/"), 65534, 65534)
    info = json.loads(fresh_engine.cli("info", "--format", "json", env=env).stdout)
    assert any("layered.sqfs refused: owned by uid 65534" in w for w in info["Warnings"]), info["Warnings"]
    assert "R/O" not in fresh_engine.cli("images", env=env).stdout


def test_keep_id_is_the_default_in_a_slurm_job(fresh_engine: Engine, images: object) -> None:
    busybox = images.busybox  # type: ignore[attr-defined]
    uid = str(fresh_engine.user.uid)
    env = {"SLURM_JOB_ID": "4242"}
    fresh_engine.cli("pull", "-q", busybox, env=env)
    assert fresh_engine.cli("run", "--rm", busybox, "id", "-u", env=env).stdout.strip() == uid
    name = fresh_engine.cli("create", busybox, "true", env=env).stdout.strip()
    inspect = json.loads(fresh_engine.cli("inspect", name, env=env).stdout)[0]
    assert inspect["HostConfig"]["UsernsMode"] == "keep-id"
    info = json.loads(fresh_engine.cli("info", "--format", "json", env=env).stdout)
    assert info["Rootless"]["DefaultUserns"] == "keep-id"
    _restart(fresh_engine)
    # Configured otherwise: the docker default (container root is the user) in a job too.
    env["ROOTLESS_USERNS"] = "default"
    assert fresh_engine.cli("run", "--rm", busybox, "id", "-u", env=env).stdout.strip() == "0"


def test_a_killed_exports_staging_mount_and_file_are_removed_at_the_next_start(
        fresh_engine: Engine, images: object) -> None:
    busybox = images.busybox  # type: ignore[attr-defined]
    fresh_engine.cli("pull", "-q", busybox)
    layer = os.path.join(fresh_engine.root, "layers", os.listdir(os.path.join(fresh_engine.root, "layers"))[0])
    tmp = os.path.join(fresh_engine.root, "tmp")
    # What a daemon SIGKILLed inside mksquashfs leaves: the read-only view still mounted, a partial file.
    script = (f"mkdir -p {tmp}/squashfs-killed/rootfs && touch {tmp}/export-killed.sqfs && "
              f"mount -t overlay overlay -o ro,lowerdir={tmp}/squashfs-killed:{layer}/diff,userxattr "
              f"{tmp}/squashfs-killed/rootfs && ls {tmp}/squashfs-killed/rootfs/bin/busybox")
    fresh_engine.unshare("sh", "-c", script)
    fresh_engine.kill_daemon()
    fresh_engine.cli("info")  # the next daemon (same namespaces: the mount is still there)
    assert not [n for n in os.listdir(tmp) if "killed" in n], os.listdir(tmp)
    assert os.path.exists(os.path.join(layer, "diff", "bin", "busybox"))  # the layer itself untouched
