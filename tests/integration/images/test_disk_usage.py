"""`system df`, `image prune` (dangling and -a) and `rmi` reclaim space: what containers use is
never reclaimable, and layers another image or a container still needs stay."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List


def df_rows(engine, *tool: str) -> Dict[str, Dict[str, Any]]:  # type: ignore[no-untyped-def]
    run = engine.docker if tool == ("docker",) else engine.cli
    out = run("system", "df", "--format", "{{json .}}").stdout
    return {row["Type"]: row for row in map(json.loads, out.splitlines())}


def unpacked_layers(root: str) -> List[str]:
    path = os.path.join(root, "layers")
    return sorted(n for n in os.listdir(path) if os.path.isdir(os.path.join(path, n)) and not n.startswith("."))


def blob_count(root: str) -> int:
    return len(os.listdir(os.path.join(root, "blobs", "sha256")))


def test_df_prune_and_rmi_reclaim_only_what_nothing_uses(fresh_engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    for ref in (images.busybox, images.layered):  # layered stacks on busybox's layer
        eng.cli("pull", "-q", ref)
    assert df_rows(eng)["Images"]["TotalCount"] == "2"
    assert df_rows(eng)["Images"]["Reclaimable"].endswith("(100%)")
    eng.docker("create", "--name", "user", images.layered)
    usage = eng.client().df()
    assert {i["RepoTags"][0]: i["Containers"] for i in usage["Images"]} == {images.busybox: 0, images.layered: 1}
    images_row = df_rows(eng)["Images"]
    # busybox's only layer is layered's base: removing busybox frees nothing
    assert (images_row["Active"], images_row["Reclaimable"]) == ("1", "0B (0%)")
    assert df_rows(eng, "docker")["Images"]["Active"] == "1"

    base_chain = images.busybox_layer.diff_id.split(":")[1]
    assert f"Untagged: {images.busybox}" in eng.cli("rmi", images.busybox).stdout
    assert base_chain in unpacked_layers(eng.root)  # shared with layered: kept
    assert eng.docker("start", "-a", "user").stdout.split() == ["a-link", "b"]

    # a dangling image: the tag moves to the arm64 variant, the amd64 one keeps no name
    eng.cli("pull", "-q", images.multiarch)
    eng.cli("pull", "-q", "--platform", "linux/arm64", images.multiarch)
    assert eng.cli("images", "-q", "--filter", "dangling=true").stdout.strip() != ""
    before = blob_count(eng.root)
    pruned = eng.cli("image", "prune", "-f").stdout
    assert "Deleted Images:" in pruned and "Total reclaimed space: 0B" not in pruned
    assert eng.cli("images", "-q", "--filter", "dangling=true").stdout.strip() == ""
    assert blob_count(eng.root) < before
    listed = eng.cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert sorted(listed) == sorted([images.multiarch, images.layered])

    # -a: every image no container uses; layered stays for its container
    pruned = eng.cli("image", "prune", "-a", "-f").stdout
    assert f"untagged: {images.multiarch}" in pruned
    assert eng.cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split() == [images.layered]
    assert base_chain in unpacked_layers(eng.root)

    eng.docker("rm", "user")
    assert df_rows(eng)["Images"]["Reclaimable"].endswith("(100%)")
    eng.cli("image", "prune", "-a", "-f")
    assert unpacked_layers(eng.root) == [] and blob_count(eng.root) == 0
    assert df_rows(eng)["Images"]["Size"] == "0B"
