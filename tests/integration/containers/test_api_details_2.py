"""Issue 16, second part: GET /distribution/{name}/json and log driver refusals, as dockerd 28 answers.

Checked through docker-py (images.get_registry_data, containers.create's log_config)
and the docker CLI (`docker run --log-driver`, `--log-opt`).
"""
from __future__ import annotations

import pytest
import requests

from tests import imagebuild
from tests.integration.conftest import Engine

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def served(name: str, accept: str) -> requests.Response:
    """What the registry itself serves for host/repo:tag (the digest docker-py must report)."""
    host, _, rest = name.partition("/")
    repo, _, tag = rest.partition(":")
    answer = requests.get(f"http://{host}/v2/{repo}/manifests/{tag}", headers={"Accept": accept}, timeout=10)
    answer.raise_for_status()
    return answer


# -- GET /distribution/{name}/json ----------------------------------------------------
def test_registry_data_of_an_index_lists_its_platforms(engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    client = engine.client()
    index = served(images.multiarch, OCI_INDEX)
    data = client.images.get_registry_data(images.multiarch)  # before: 404, no such route
    assert data.id == index.headers["Docker-Content-Digest"]
    assert data.attrs["Descriptor"] == {"mediaType": OCI_INDEX, "digest": data.id, "size": len(index.content)}
    assert data.attrs["Platforms"] == [{"architecture": "amd64", "os": "linux"},
                                       {"architecture": "arm64", "os": "linux"}]
    assert data.has_platform("linux/arm64") and not data.has_platform("linux/s390x")
    # By digest too; nothing was pulled.
    by_digest = client.api.inspect_distribution(f"{images.multiarch.rsplit(':', 1)[0]}@{data.id}")
    assert by_digest["Descriptor"] == data.attrs["Descriptor"]
    assert images.multiarch not in [t for i in client.images.list() for t in i.tags]


def test_registry_data_of_a_manifest_takes_the_config_platform(engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    client = engine.client()
    manifest = served(images.busybox, DOCKER_MANIFEST)
    data = client.api.inspect_distribution(images.busybox)
    assert data == {"Descriptor": {"mediaType": DOCKER_MANIFEST, "digest": manifest.headers["Docker-Content-Digest"],
                                   "size": len(manifest.content)},
                    "Platforms": [{"architecture": "amd64", "os": "linux"}]}
    # An OCI manifest: dockerd 28 leaves Platforms null here; rootless reads its config all the same.
    oci = client.api.inspect_distribution(images.busybox_oci)
    assert oci["Descriptor"]["mediaType"] == OCI_MANIFEST
    assert oci["Platforms"] == [{"architecture": "amd64", "os": "linux"}]


def test_registry_data_errors_as_dockerd(engine: Engine, registry) -> None:  # type: ignore[no-untyped-def]
    import docker

    client = engine.client()
    for name in (f"{registry.host}/busybox:no-such-tag", f"{registry.host}/no-such-repo:1"):
        with pytest.raises(docker.errors.NotFound) as missing:
            client.images.get_registry_data(name)
        assert "manifest unknown" in str(missing.value.explanation), name
    with pytest.raises(docker.errors.APIError) as full_id:
        client.api.inspect_distribution("a" * 64)
    assert full_id.value.status_code == 500
    assert str(full_id.value.explanation).startswith("no manifest found for full image ID")
    with pytest.raises(docker.errors.APIError) as invalid:
        client.api.inspect_distribution("Not/A:Reference:")
    assert invalid.value.status_code == 400


def test_registry_data_uses_the_request_credentials(fresh_engine: Engine, auth_registry) -> None:  # type: ignore[no-untyped-def]
    import docker

    base = imagebuild.Layer(imagebuild.busybox_rootfs())
    auth_registry.client.push_image("private-dist", "1", [base], imagebuild.image_config([base], arch="arm64"))
    name = f"{auth_registry.host}/private-dist:1"
    fresh_engine.cli("info")  # starts its daemon
    client = fresh_engine.client()
    with pytest.raises(docker.errors.APIError) as anonymous:
        client.images.get_registry_data(name)
    assert anonymous.value.status_code == 401 and "authentication required" in str(anonymous.value.explanation)
    data = client.images.get_registry_data(name, auth_config={"username": "tester", "password": "secret"})
    assert data.attrs["Platforms"] == [{"architecture": "arm64", "os": "linux"}]


# -- log drivers ----------------------------------------------------------------------
def test_unknown_log_driver_is_refused_in_dockers_words(engine: Engine, busybox: str) -> None:
    import docker
    from docker.types import LogConfig

    client = engine.client()
    cases = [(LogConfig(type="foo"), "logger: no log driver named 'foo' is registered"),
             (LogConfig(type="json-file", config={"x": "1"}), "unknown log opt 'x' for json-file log driver"),
             (LogConfig(type="syslog"), "logger: log driver 'syslog' is not supported by rootless"),
             (LogConfig(type="json-file", config={"tag": "x"}),
              "logger: log opt 'tag' of the json-file log driver is not supported by rootless")]
    before = len(client.containers.list(all=True))
    for log_config, message in cases:
        with pytest.raises(docker.errors.APIError) as refused:
            client.containers.create(busybox, ["true"], log_config=log_config)
        assert refused.value.status_code == 400
        assert str(refused.value.explanation).startswith(message)
    assert len(client.containers.list(all=True)) == before  # nothing stored
    run = engine.docker("run", "--rm", "--log-driver", "foo", busybox, "true", check=False)
    assert run.returncode == 125
    assert "Error response from daemon: logger: no log driver named 'foo' is registered" in run.stderr
    own = engine.cli("run", "--rm", "--log-driver", "foo", busybox, "true", check=False)
    assert own.returncode == 125 and "logger: no log driver named 'foo' is registered" in own.stderr
    opt = engine.docker("run", "--rm", "--log-opt", "x=1", busybox, "true", check=False)
    assert opt.returncode == 125 and "unknown log opt 'x' for json-file log driver" in opt.stderr
    ok = engine.docker("run", "--rm", "--log-driver", "json-file", "--log-opt", "max-size=1k", busybox, "echo", "hi")
    assert ok.stdout == "hi\n"
