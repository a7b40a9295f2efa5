"""Pull, push, tag, rmi, save/load against a real docker-registry, through the
docker CLI, docker-py and rootless's own CLI."""
from __future__ import annotations

import json
import os
import uuid

from tests import imagebuild


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_docker_pull_run_tag_push_rmi(engine, registry, images) -> None:  # type: ignore[no-untyped-def]
    pulled = engine.docker("pull", images.layered).stdout
    assert "Pulling from layered" in pulled and "Pull complete" in pulled
    assert f"Status: Downloaded newer image for {images.layered}" in pulled or "Image is up to date" in pulled
    assert "Image is up to date" in engine.docker("pull", images.layered).stdout
    assert engine.docker("run", "--rm", images.layered).stdout.split() == ["a-link", "b"]
    target = f"{registry.host}/{unique('pushed')}:v1"
    engine.docker("tag", images.layered, target)
    pushed = engine.docker("push", target).stdout
    assert "The push refers to repository" in pushed and "v1: digest: sha256:" in pushed
    assert "Mounted from layered" in pushed or "Pushed" in pushed
    listed = engine.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert target in listed and images.layered in listed
    removed = engine.docker("rmi", target).stdout
    assert f"Untagged: {target}" in removed and "Deleted" not in removed
    assert "Downloaded newer image" in engine.docker("pull", target).stdout
    engine.docker("rmi", target)


def test_docker_pull_errors(engine, registry) -> None:  # type: ignore[no-untyped-def]
    missing = engine.docker("pull", f"{registry.host}/does-not-exist:1", check=False)
    assert missing.returncode == 1 and "manifest unknown" in missing.stderr
    closed = engine.docker("pull", "127.0.0.1:1/nothing:1", check=False)
    assert closed.returncode == 1 and "connection refused" in closed.stderr
    bad = engine.docker("rmi", "never-pulled:1", check=False)
    assert bad.returncode == 1 and "No such image: never-pulled:1" in bad.stderr


def test_multiarch_platform_selection(fresh_engine, images) -> None:  # type: ignore[no-untyped-def]
    fresh_engine.cli("info")
    assert fresh_engine.docker("run", "--rm", images.multiarch).stdout.strip() == "amd64"
    fresh_engine.docker("pull", "--platform", "linux/arm64", images.multiarch)
    arch = fresh_engine.docker("image", "inspect", "-f", "{{.Architecture}}", images.multiarch).stdout.strip()
    assert arch == "arm64"


def test_rmi_refuses_an_image_a_container_uses(engine, images) -> None:  # type: ignore[no-untyped-def]
    engine.docker("pull", images.busybox)
    name = unique("user")
    alias = f"{unique('alias')}:1"
    engine.docker("tag", images.busybox, alias)
    engine.docker("create", "--name", name, alias, "true")
    try:
        refused = engine.docker("rmi", alias, check=False)
        # busybox still names the image, so only the alias goes.
        assert refused.returncode == 0 and f"Untagged: {alias}" in refused.stdout
        image_id = engine.docker("image", "inspect", "-f", "{{.Id}}", images.busybox).stdout.strip()
        conflict = engine.docker("rmi", image_id, check=False)
        assert conflict.returncode == 1 and "conflict" in conflict.stderr
    finally:
        engine.docker("rm", "-f", name, check=False)


def test_docker_save_load_and_history(fresh_engine, images, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fresh_engine.cli("info")
    fresh_engine.docker("pull", images.layered)
    archive = "/tmp/" + unique("save") + ".tar"
    try:
        fresh_engine.docker("save", "-o", archive, images.layered)
        fresh_engine.docker("rmi", images.layered)
        assert f"Loaded image: {images.layered}" in fresh_engine.docker("load", "-i", archive).stdout
        assert fresh_engine.docker("run", "--rm", images.layered).stdout.split() == ["a-link", "b"]
    finally:
        if os.path.exists(archive):
            os.unlink(archive)
    history = fresh_engine.docker("history", "--format", "{{.CreatedBy}}", images.layered).stdout.split("\n")
    assert len([line for line in history if line]) == 3


def test_docker_py_images(engine, registry, images) -> None:  # type: ignore[no-untyped-def]
    client = engine.client()
    image = client.images.pull(images.busybox_oci)
    assert images.busybox_oci in image.tags
    assert client.images.get(images.busybox_oci).id == image.id
    target = f"{registry.host}/{unique('dockerpy')}"
    assert image.tag(target, "t1")
    lines = [json.loads(x) for x in client.images.push(target, "t1").splitlines() if x.strip()]
    assert any("aux" in line and line["aux"]["Tag"] == "t1" for line in lines)
    data = b"".join(client.images.get(f"{target}:t1").save())
    client.images.remove(f"{target}:t1")
    loaded = client.images.load(data)
    assert f"{target}:t1" in loaded[0].tags
    client.images.remove(f"{target}:t1")
    filtered = client.images.list(name=images.busybox_oci.rsplit(":", 1)[0])
    assert [img.id for img in filtered] == [image.id]


def test_rootless_cli_image_verbs(fresh_engine, registry, images) -> None:  # type: ignore[no-untyped-def]
    cli = fresh_engine.cli
    out = cli("pull", images.busybox).stdout
    assert "Pull complete" in out and out.strip().endswith(images.busybox)
    assert cli("pull", "-q", images.busybox).stdout.strip() == images.busybox
    rows = cli("images", "--format", "{{.Repository}} {{.Tag}}").stdout.split("\n")
    assert f"{images.busybox.rsplit(':', 1)[0]} latest" in rows
    target = f"{registry.host}/{unique('cli')}:x"
    cli("tag", images.busybox, target)
    assert "x: digest: sha256:" in cli("push", target).stdout
    assert len(cli("images", "-q").stdout.split()) == 2
    archive = "/tmp/" + unique("clisave") + ".tar"
    try:
        cli("save", "-o", archive, target)
        assert f"Untagged: {target}" in cli("rmi", target).stdout
        assert cli("load", "-i", archive).stdout.strip() == f"Loaded image: {target}"
    finally:
        if os.path.exists(archive):
            os.unlink(archive)
    assert cli("image", "inspect", "-f", "{{.Os}}", target).stdout.strip() == "linux"
    missing = cli("rmi", "nope:1", check=False)
    assert missing.returncode == 1 and "No such image: nope:1" in missing.stderr
    pruned = cli("image", "prune", "-a", "-f").stdout
    assert "Total reclaimed space" in pruned
    assert cli("images", "-q").stdout.strip() == ""


def test_basic_auth_registry(fresh_engine, auth_registry, images) -> None:  # type: ignore[no-untyped-def]
    fresh_engine.cli("info")
    base = images.busybox_layer
    auth_registry.client.push_image("private", "1", [base], imagebuild.image_config([base]))
    ref = f"{auth_registry.host}/private:1"
    denied = fresh_engine.docker("pull", ref, check=False)
    assert denied.returncode == 1 and "authentication required" in denied.stderr
    wrong = fresh_engine.docker("login", "-u", "tester", "--password-stdin", auth_registry.host,
                                input="wrong\n", check=False)
    assert wrong.returncode == 1 and "incorrect username or password" in wrong.stderr
    ok = fresh_engine.docker("login", "-u", "tester", "--password-stdin", auth_registry.host, input="secret\n")
    assert "Login Succeeded" in ok.stdout
    assert "Pull complete" in fresh_engine.docker("pull", ref).stdout
    fresh_engine.docker("tag", ref, f"{auth_registry.host}/private:2")
    assert "2: digest:" in fresh_engine.docker("push", f"{auth_registry.host}/private:2").stdout
    fresh_engine.docker("logout", auth_registry.host)
    fresh_engine.docker("rmi", ref, f"{auth_registry.host}/private:2")
    # rootless's own login keeps the credentials in the same config.json, daemon-side.
    assert fresh_engine.cli("login", "-u", "tester", "--password-stdin", auth_registry.host,
                            input="secret\n").stdout.strip() == "Login Succeeded"
    assert "Pull complete" in fresh_engine.cli("pull", ref).stdout
    assert "Removing login credentials" in fresh_engine.cli("logout", auth_registry.host).stdout
    fresh_engine.cli("rmi", ref)
    again = fresh_engine.cli("pull", ref, check=False)
    assert again.returncode == 1 and "authentication required" in again.stderr
