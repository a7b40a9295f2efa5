"""The image verbs the other integration tests do not reach: import (rootless and docker),
`images` with --digests/--filter/--format, `rmi -f`, and concurrent pulls of one image."""
from __future__ import annotations

import gzip
import os
import subprocess
import uuid

from tests import imagebuild
from tests.integration.conftest import DOCKER, VENV_PYTHON


def test_import_a_rootfs_tarball(fresh_engine) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    tarball = f"/tmp/rootfs-{uuid.uuid4().hex[:8]}.tar.gz"
    with open(tarball, "wb") as f:
        f.write(gzip.compress(imagebuild.busybox_rootfs(), compresslevel=1))
    os.chmod(tarball, 0o644)
    try:
        image_id = eng.cli("import", "-c", "CMD [\"echo\", \"imported\"]", tarball, "offline:1").stdout.strip()
        assert image_id.startswith("sha256:")
        assert eng.docker("run", "--rm", "offline:1").stdout.strip() == "imported"
        # docker's CLI sends the file itself (fromSrc=-)
        assert eng.docker("import", "-m", "from docker", tarball, "offline:2").stdout.strip().startswith("sha256:")
        assert eng.docker("run", "--rm", "offline:2", "cat", "/etc/group").stdout.startswith("root:x:0:")
        assert eng.docker("history", "--format", "{{.Comment}}", "offline:2").stdout.strip() == "from docker"
    finally:
        os.unlink(tarball)


def test_images_listing_options(fresh_engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    eng.cli("pull", "-q", images.busybox)
    eng.cli("pull", "-q", images.layered)
    repo = images.busybox.rsplit(":", 1)[0]
    rows = eng.cli("images", "--digests").stdout.splitlines()
    assert rows[0].split() == ["REPOSITORY", "TAG", "DIGEST", "IMAGE", "ID", "CREATED", "SIZE"]
    busybox_row = [r for r in rows if r.startswith(repo + " ")][0].split()
    assert busybox_row[1] == "latest" and busybox_row[2].startswith("sha256:") and len(busybox_row[3]) == 12
    assert eng.cli("images", "--format", "{{.Repository}}", "--filter", f"reference={repo}").stdout.split() == [repo]
    assert eng.cli("images", "--format", "{{.Repository}}", repo).stdout.split() == [repo]
    assert eng.cli("images", "-q", "--filter", "dangling=true").stdout == ""
    ids = eng.cli("images", "-q", "--no-trunc").stdout.split()
    assert len(ids) == 2 and all(i.startswith("sha256:") for i in ids)
    assert eng.docker("images", "--digests", "--format", "{{.Digest}}", repo).stdout.strip().startswith("sha256:")


def test_rmi_force_untags_what_a_container_uses(fresh_engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    eng.cli("pull", "-q", images.busybox)
    eng.docker("create", "--name", "keeps", images.busybox, "echo", "still here")
    refused = eng.cli("rmi", images.busybox, check=False)
    assert refused.returncode == 1 and "must force" in refused.stderr
    forced = eng.cli("rmi", "-f", images.busybox).stdout
    assert f"Untagged: {images.busybox}" in forced and "Deleted" not in forced
    assert eng.docker("start", "-a", "keeps").stdout.strip() == "still here"
    assert eng.cli("images", "--format", "{{.Repository}}").stdout.split() == ["<none>"]


def test_concurrent_pulls_of_one_image(fresh_engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    argvs = [[DOCKER, "pull", images.layered], [VENV_PYTHON, "-m", "rootless.cli", "pull", images.layered],
             [DOCKER, "pull", images.layered]]
    procs = [eng.user.popen(argv, env=eng.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for argv in argvs]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert [code for _, _, code in results] == [0, 0, 0], results
    assert eng.cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split() == [images.layered]
    layers_dir = os.path.join(eng.root, "layers")
    dirs = [n for n in os.listdir(layers_dir) if os.path.isdir(os.path.join(layers_dir, n))]
    assert len([n for n in dirs if not n.startswith(".")]) == 3  # one unpacked dir per layer, no duplicates
    assert [n for n in dirs if n.startswith(".")] == [".trash"]  # ... and no leftovers
    assert os.listdir(os.path.join(layers_dir, ".trash")) == []
    assert eng.docker("run", "--rm", images.layered).stdout.split() == ["a-link", "b"]
