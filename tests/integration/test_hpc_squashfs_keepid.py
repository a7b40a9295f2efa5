"""Issue 15: --userns=keep-id on squashfs images (a site store's and the user's own image_format = squashfs).

The container's rootfs is a fuse-overlayfs over the squashfuse mount, showing
the image's owners shifted into the container's nested user namespace. With
ids shifted fuse-overlayfs rewrites POSIX ACL xattrs and fails on squashfuse's
EOPNOTSUPP for them, so the driver mounts it with noacl. The container runs as
the user, and what it writes into a bind-mounted dir belongs to the user.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Dict, Iterator

import pytest

from tests.integration.conftest import Engine
from tests.integration.images.test_store_crash import start_daemon
from tests.integration.test_hpc_images import _export, site_dir  # noqa: F401 (a fixture)

pytestmark = pytest.mark.timeout(300)
SQUASHFS = {"ROOTLESS_IMAGE_FORMAT": "squashfs"}
SCRIPT = "id -u; id -g; stat -c %u:%g /bin/busybox /owned; cat /data/b; echo out > /work/out; mkdir /work/d"


@pytest.fixture()
def work_dir(fresh_engine: Engine) -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="keepid-sqfs-", dir="/tmp")
    os.chown(path, fresh_engine.user.uid, fresh_engine.user.gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _check_keep_id(engine: Engine, image: str, work: str, env: Dict[str, str]) -> None:
    uid, gid = engine.user.uid, engine.user.gid
    out = engine.cli("run", "--rm", "--userns", "keep-id", "-v", f"{work}:/work", image, "sh", "-c", SCRIPT,
                     env=env).stdout.split()
    # The user's ids; the image's owners as the image says (root's files root's, 1000's 1000's).
    assert out == [str(uid), str(gid), "0:0", "1000:1000", "b"], out
    for name in ("out", "d"):
        info = os.stat(os.path.join(work, name))
        assert (info.st_uid, info.st_gid) == (uid, gid), name
    # Container root (--user 0) changes the image's files: copied up from the squashfuse lower.
    script = "touch /data/new && rm /data/b && ls /data /opq | tr '\\n' ,"
    out = engine.cli("run", "--rm", "--userns", "keep-id", "--user", "0", image, "sh", "-c", script, env=env).stdout
    assert out == "/data:,a-link,new,,/opq:,z,", out


def test_keep_id_on_the_users_own_squashfs_image(fresh_engine: Engine, images: object, work_dir: str) -> None:
    layered = images.layered  # type: ignore[attr-defined]
    start_daemon(fresh_engine, SQUASHFS)
    fresh_engine.cli("pull", "-q", layered, timeout=180)
    _check_keep_id(fresh_engine, layered, work_dir, SQUASHFS)
    # Run from the file: no layer unpacked again for keep-id.
    layers = os.path.join(fresh_engine.root, "layers")
    assert not [n for n in os.listdir(layers) if len(n) == 64]


def test_keep_id_on_a_site_image(engine: Engine, fresh_engine: Engine, images: object, site_dir: str,  # noqa: F811
                                 work_dir: str) -> None:
    layered = images.layered  # type: ignore[attr-defined]
    _export(engine, layered, site_dir)
    env = {"ROOTLESS_ADDITIONAL_IMAGE_STORES": site_dir}
    _check_keep_id(fresh_engine, layered, work_dir, env)
    # In a Slurm job keep-id is the default for site images too: the user's uid.
    fresh_engine.stop()
    in_job = fresh_engine.cli("run", "--rm", layered, "id", "-u", env={**env, "SLURM_JOB_ID": "1"}).stdout
    assert in_job.strip() == str(fresh_engine.user.uid)
