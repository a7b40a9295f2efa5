"""`rootless system prune`: docker's prompt, order of prunes, output and total (issue 11)."""
from __future__ import annotations

import pytest


def answer(fake_client) -> None:  # type: ignore[no-untyped-def]
    fake_client.answers.update(
        prune_containers={"ContainersDeleted": ["c1"], "SpaceReclaimed": 1000},
        prune_networks={"NetworksDeleted": ["net1"]},
        prune_volumes={"VolumesDeleted": ["v1"], "SpaceReclaimed": 2000},
        prune_images={"ImagesDeleted": [{"Untagged": "a:1"}, {"Deleted": "sha256:ab"}], "SpaceReclaimed": 3000},
        prune_builds={"CachesDeleted": None, "SpaceReclaimed": 0})


def test_system_prune_all_volumes_force(invoke, fake_client) -> None:  # type: ignore[no-untyped-def]
    answer(fake_client)
    result = invoke("system", "prune", "-a", "--volumes", "-f", "--filter", "label=x=y")
    assert result.output == ("Deleted Containers:\nc1\n\nDeleted Networks:\nnet1\n\nDeleted Volumes:\nv1\n\n"
                             "Deleted Images:\nuntagged: a:1\ndeleted: sha256:ab\n\n"
                             "Total reclaimed space: 6kB\n")
    assert [m for m, _, _ in fake_client.calls] == ["prune_containers", "prune_networks", "prune_volumes",
                                                     "prune_images", "prune_builds"]
    assert fake_client.called("prune_images")[0][0][0] == {"label": ["x=y"], "dangling": ["false"]}
    assert fake_client.called("prune_builds")[0] == (({"label": ["x=y"]},), {"all": True})


def test_system_prune_prompts_like_docker_and_no_stops(invoke, fake_client) -> None:  # type: ignore[no-untyped-def]
    answer(fake_client)
    result = invoke("system", "prune", "--filter", "until=1h", input="n\n")
    assert result.output.startswith(
        "WARNING! This will remove:\n  - all stopped containers\n"
        "  - all networks not used by at least one container\n  - all dangling images\n"
        "  - unused build cache\n\n  Items to be pruned will be filtered with:\n  - until=1h\n\n"
        "Are you sure you want to continue? [y/N]")
    assert fake_client.calls == []


def test_system_prune_without_volumes_leaves_them(invoke, fake_client) -> None:  # type: ignore[no-untyped-def]
    answer(fake_client)
    result = invoke("system", "prune", input="y\n")
    assert "prune_volumes" not in [m for m, _, _ in fake_client.calls]
    assert result.output.endswith("Total reclaimed space: 4kB\n")


def test_until_with_volumes_is_refused_as_docker_does(invoke, fake_client) -> None:  # type: ignore[no-untyped-def]
    result = invoke("system", "prune", "--volumes", "--filter", "until=1h", "-f")
    assert result.exit_code == 2 and 'The "until" filter is not supported with "--volumes"' in result.output


def test_builder_prune_passes_filters_and_all(invoke, fake_client) -> None:  # type: ignore[no-untyped-def]
    fake_client.answers["prune_builds"] = {"CachesDeleted": ["abc"], "SpaceReclaimed": 2000}
    result = invoke("builder", "prune", "-f", "--filter", "until=24h")
    assert result.output == "Deleted build cache objects:\nabc\nTotal reclaimed space: 2kB\n"
    assert fake_client.called("prune_builds")[0] == (({"until": ["24h"]},), {"all": False})
