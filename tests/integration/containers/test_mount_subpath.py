"""VolumeOptions.Subpath and bind propagation as moby 28 has them (issue 16), through docker-py and
the docker CLI: a volume's directory mounted, a symlink in the volume never leading out of it, a
missing subpath refused at start; bind propagation reported as given."""
from __future__ import annotations

import json
import os
from typing import Iterator, List

import pytest

from tests.integration.conftest import Engine


@pytest.fixture()
def made(engine: Engine) -> Iterator[List[str]]:
    names: List[str] = []
    yield names
    for name in names:
        engine.docker("rm", "-f", name, check=False)
    engine.docker("volume", "rm", "-f", "subvol", check=False)


def test_volume_subpath_through_the_cli(engine: Engine, busybox: str, made: List[str]) -> None:
    made += ["subpath-fill", "subpath-read", "subpath-escape", "subpath-missing"]
    engine.docker("volume", "create", "subvol")
    engine.docker("run", "--name", "subpath-fill", "-v", "subvol:/v", busybox, "sh", "-c",
                  "mkdir -p /v/app/conf && echo inside > /v/app/conf/x && echo top > /v/top"
                  " && ln -s /etc /v/etc-link && ln -s ../../.. /v/app/up")
    read = engine.docker("run", "--name", "subpath-read", "--mount",
                         "type=volume,src=subvol,dst=/conf,volume-subpath=app/conf", busybox, "sh", "-c",
                         "cat /conf/x; ls /conf").stdout
    assert read.split() == ["inside", "x"]  # only the subdirectory, not the volume's top
    mounts = json.loads(engine.docker("inspect", "-f", "{{json .HostConfig.Mounts}}", "subpath-read").stdout)
    assert mounts[0]["VolumeOptions"]["Subpath"] == "app/conf"
    # An absolute symlink in the volume resolves inside the volume (there is no /v/etc): refused, never the host's /etc
    escape = engine.docker("run", "--name", "subpath-escape", "--mount",
                           "type=volume,src=subvol,dst=/e,volume-subpath=etc-link", busybox, "ls", "/e", check=False)
    assert escape.returncode != 0 and "cannot access path" in escape.stderr, escape.stderr
    up = engine.docker("run", "--rm", "--mount", "type=volume,src=subvol,dst=/u,volume-subpath=app/up",
                       busybox, "ls", "/u")  # ../../.. clamps at the volume's top
    assert sorted(up.stdout.split()) == ["app", "etc-link", "top"]
    missing = engine.docker("run", "--name", "subpath-missing", "--mount",
                            "type=volume,src=subvol,dst=/m,volume-subpath=nope", busybox, "true", check=False)
    assert missing.returncode != 0 and "cannot access path" in missing.stderr
    outside = engine.docker("run", "--rm", "--mount", "type=volume,src=subvol,dst=/m,volume-subpath=../x",
                            busybox, "true", check=False)
    assert outside.returncode != 0 and "subpath must be a relative path within the volume" in outside.stderr
    stage = os.path.join(engine.run_dir, "subpaths")
    assert os.listdir(stage) == []  # every pin was unmounted and removed once crun had created the container


def test_volume_subpath_through_docker_py(engine: Engine, busybox: str, made: List[str]) -> None:
    import docker
    from docker.types import Mount

    client = engine.client()
    made += ["subpy-fill"]
    client.volumes.create("subvol")
    client.containers.run(busybox, ["sh", "-c", "mkdir -p /v/data && echo py > /v/data/f"], name="subpy-fill",
                          volumes={"subvol": {"bind": "/v"}})
    mount = Mount("/d", "subvol", type="volume")
    mount["VolumeOptions"] = {"Subpath": "data"}
    out = client.containers.run(busybox, ["cat", "/d/f"], mounts=[mount], remove=True)
    assert out == b"py\n"
    anonymous = Mount("/d", None, type="volume")
    anonymous["VolumeOptions"] = {"Subpath": "data"}
    with pytest.raises(docker.errors.APIError) as refused:
        client.containers.create(busybox, ["true"], mounts=[anonymous])
    assert refused.value.status_code == 400 and "must not set Subpath when using anonymous volumes" in str(
        refused.value)


@pytest.mark.parametrize("propagation", ["private", "rprivate"])
def test_bind_propagation_is_reported_as_given(engine: Engine, busybox: str, made: List[str],
                                               propagation: str) -> None:
    made.append("prop-" + propagation)
    engine.docker("create", "--name", "prop-" + propagation, "--mount",
                  f"type=bind,src=/tmp,dst=/b,bind-propagation={propagation}", busybox, "true")
    mounts = json.loads(engine.docker("inspect", "-f", "{{json .Mounts}}", "prop-" + propagation).stdout)
    assert mounts[0]["Propagation"] == propagation
